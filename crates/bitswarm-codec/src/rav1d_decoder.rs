//! AV1 decoding in-process with rav1d (the Rust port of dav1d), through its dav1d-compatible
//! API, film grain applied.
//!
//! Two threads and two frame contexts: rav1d 1.1.0 aborts the process on any decoding error
//! when it has a single frame context (`on_error` unwraps a frame header that
//! `rav1d_decode_frame_exit` already took, inside an `extern "C"` function; rav1d issue #1497).
//! With two frame contexts errors take another path and come back as `EINVAL`.

use std::mem::MaybeUninit;
use std::ptr::{self, NonNull};

use bitswarm_core::{Codec, Frame};
use rav1d::include::dav1d::data::Dav1dData;
use rav1d::include::dav1d::dav1d::{Dav1dContext, Dav1dSettings};
use rav1d::include::dav1d::headers::DAV1D_PIXEL_LAYOUT_I420;
use rav1d::include::dav1d::picture::Dav1dPicture;
use rav1d::src::lib::{
    dav1d_close, dav1d_data_create, dav1d_data_unref, dav1d_default_settings, dav1d_get_picture,
    dav1d_open, dav1d_picture_unref, dav1d_send_data,
};

use crate::decoder::{packed_frame, Decoder};
use crate::units::split_units;
use crate::{Error, Result};

/// dav1d's "try again" result (`-EAGAIN`).
const EAGAIN: i32 = -11;

/// rav1d's AV1 decoder: 8-bit 4:2:0 output (other formats are refused frame by frame).
/// Input is the low-overhead OBU format; each [`Decoder::decode`] call must hold whole
/// temporal units.
pub struct Rav1dDecoder {
    context: Option<Dav1dContext>,
    /// Temporal units fed so far, to name the one that failed.
    units: u64,
}

// SAFETY: the context is only used through `&mut self` (or `Drop`); rav1d's context is
// `Send + Sync` (its state sits behind a mutex).
unsafe impl Send for Rav1dDecoder {}

fn dav1d_error(unit: u64, call: &str, code: i32) -> Error {
    let name = match -code {
        22 => "invalid data (EINVAL)",
        12 => "out of memory (ENOMEM)",
        42 => "unsupported bitstream (ENOPROTOOPT)",
        _ => "error",
    };
    Error::Decode {
        access_unit: unit,
        detail: format!("rav1d {call}: {name}, code {code}"),
    }
}

impl Rav1dDecoder {
    /// A decoder with two threads and two frame contexts (see the module documentation), no
    /// logging.
    pub fn new() -> Result<Self> {
        let mut settings = MaybeUninit::<Dav1dSettings>::uninit();
        // SAFETY: dav1d_default_settings writes a complete `Dav1dSettings`.
        let mut settings = unsafe {
            dav1d_default_settings(NonNull::from(&mut settings).cast());
            settings.assume_init()
        };
        settings.n_threads = 2;
        settings.max_frame_delay = 2;
        // SAFETY: a logger of null cookie and null callback is rav1d's "no logging"; both fields
        // are nullable pointers, so all-zero bytes are a valid value.
        unsafe { ptr::addr_of_mut!(settings.logger).write_bytes(0, 1) };
        let mut context: Option<Dav1dContext> = None;
        // SAFETY: both pointers are valid for the call; dav1d_open writes the context or None.
        let rc = unsafe {
            dav1d_open(
                Some(NonNull::from(&mut context)),
                Some(NonNull::from(&mut settings)),
            )
        };
        if rc.0 != 0 || context.is_none() {
            return Err(Error::Unsupported(format!(
                "rav1d could not start (code {})",
                rc.0
            )));
        }
        Ok(Self { context, units: 0 })
    }

    /// Takes the pictures rav1d has ready. With `wait`, also waits for the frames still being
    /// decoded: rav1d's first `get_picture` after new data never waits, the next one does.
    fn pictures(&mut self, frames: &mut Vec<Frame>, wait: bool) -> Result<()> {
        let mut waited = !wait;
        loop {
            let mut picture = MaybeUninit::<Dav1dPicture>::zeroed();
            // SAFETY: the context is open; dav1d_get_picture writes the picture struct.
            let rc = unsafe {
                dav1d_get_picture(self.context, Some(NonNull::from(&mut picture).cast()))
            };
            if rc.0 == EAGAIN {
                if waited {
                    return Ok(());
                }
                waited = true;
                continue;
            }
            if rc.0 != 0 {
                return Err(dav1d_error(self.units, "get_picture", rc.0));
            }
            // SAFETY: on success the picture is fully written.
            let mut picture = unsafe { picture.assume_init() };
            let frame = copy_picture(&picture);
            // SAFETY: the picture came from dav1d_get_picture and is released once.
            unsafe { dav1d_picture_unref(Some(NonNull::from(&mut picture))) };
            frames.push(frame?);
        }
    }

    /// Feeds one temporal unit.
    fn send(&mut self, unit: &[u8], frames: &mut Vec<Frame>) -> Result<()> {
        let mut data = Dav1dData::default();
        // SAFETY: dav1d_data_create allocates `unit.len()` bytes owned by `data`.
        let buf = unsafe { dav1d_data_create(Some(NonNull::from(&mut data)), unit.len()) };
        if buf.is_null() {
            return Err(Error::Unsupported("rav1d could not allocate input".into()));
        }
        // SAFETY: `buf` holds `unit.len()` writable bytes.
        unsafe { ptr::copy_nonoverlapping(unit.as_ptr(), buf, unit.len()) };
        let result = loop {
            if data.sz == 0 {
                break Ok(());
            }
            // SAFETY: the context is open and `data` came from dav1d_data_create.
            let rc = unsafe { dav1d_send_data(self.context, Some(NonNull::from(&mut data))) };
            match rc.0 {
                0 => {}
                EAGAIN => {
                    // rav1d holds as many frames as it has frame contexts: take one out.
                    if let Err(e) = self.pictures(frames, true) {
                        break Err(e);
                    }
                }
                code => break Err(dav1d_error(self.units, "send_data", code)),
            }
        };
        // SAFETY: releases what is left of `data` (nothing if it was consumed).
        unsafe { dav1d_data_unref(Some(NonNull::from(&mut data))) };
        result?;
        self.pictures(frames, false)
    }
}

impl Decoder for Rav1dDecoder {
    fn decode(&mut self, data: &[u8]) -> Result<Vec<Frame>> {
        let units = split_units(Codec::Av1, data)?;
        if units.is_empty() {
            return Err(Error::InvalidAv1(format!("no OBU in {} bytes", data.len())));
        }
        let mut frames = Vec::new();
        for unit in units {
            self.send(unit, &mut frames)?;
            self.units += 1;
        }
        Ok(frames)
    }

    fn flush(&mut self) -> Result<Vec<Frame>> {
        let mut frames = Vec::new();
        self.pictures(&mut frames, true)?;
        Ok(frames)
    }
}

impl Drop for Rav1dDecoder {
    fn drop(&mut self) {
        // SAFETY: the context came from dav1d_open; dav1d_close frees it and sets it to None.
        unsafe { dav1d_close(Some(NonNull::from(&mut self.context))) };
    }
}

/// Copies an 8-bit 4:2:0 picture into a [`Frame`].
fn copy_picture(picture: &Dav1dPicture) -> Result<Frame> {
    let p = &picture.p;
    if p.bpc != 8 || p.layout != DAV1D_PIXEL_LAYOUT_I420 {
        return Err(Error::Unsupported(format!(
            "AV1 picture with {} bits and layout {} (bitswarm handles 8-bit 4:2:0)",
            p.bpc, p.layout
        )));
    }
    let (w, h) = (p.w.max(0) as usize, p.h.max(0) as usize);
    let strides = [picture.stride[0], picture.stride[1], picture.stride[1]];
    let mut planes: [(&[u8], usize); 3] = [(&[], 0); 3];
    for (i, plane) in planes.iter_mut().enumerate() {
        let rows = if i == 0 { h } else { h.div_ceil(2) };
        let stride = usize::try_from(strides[i])
            .map_err(|_| Error::Unsupported(format!("AV1 picture with stride {}", strides[i])))?;
        let Some(ptr) = picture.data[i] else {
            return Err(Error::Unsupported("AV1 picture without plane data".into()));
        };
        // SAFETY: rav1d allocates `stride * rows` bytes per 8-bit plane (padded further).
        *plane = (
            unsafe { std::slice::from_raw_parts(ptr.as_ptr().cast::<u8>(), stride * rows) },
            stride,
        );
    }
    packed_frame(w, h, planes)
}
