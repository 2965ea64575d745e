//! Streaming MP4 muxer for one H.264 video track.
//!
//! Layout: `ftyp`, then one `mdat` (64-bit size, patched at the end) holding every sample in one
//! chunk, then `moov`. Only the sample table (size and sync flag per access unit) stays in memory.
//!
//! Parameter sets: the SPS and PPS of the first access unit go into `avcC`. Later copies that are
//! byte-identical are dropped from the samples, so a stream whose parameter sets never change
//! becomes a plain `avc1` track. Once a different parameter set shows up, every parameter set from
//! that access unit on stays in the samples and the sample entry is `avc3` (parameter sets in-band).

use std::io::{Seek, SeekFrom, Write};

use bitswarm_codec::annexb::{access_units, nal_units, NalType};
use bitswarm_core::VideoInfo;

use super::AvcConfig;
use crate::bmff::{BoxWriter, UNITY_MATRIX};
use crate::{Error, Result};

/// Size of the `mdat` header we write: 32-bit size 1, type, 64-bit size.
const MDAT_HEADER: u64 = 16;

/// Most samples one track may hold: keeps the in-memory sample table well below 4 GiB.
const MAX_SAMPLES: usize = 1 << 26;

/// Writes H.264 access units into an MP4 file as they come.
pub struct Mp4Muxer<W: Write + Seek> {
    out: W,
    info: VideoInfo,
    /// File position of the `mdat` box.
    mdat_pos: u64,
    /// Bytes of sample data written so far.
    mdat_len: u64,
    /// Size and sync flag of every sample written.
    samples: Vec<(u32, bool)>,
    /// Parameter sets of the first access unit (the `avcC` contents).
    config: Option<AvcConfig>,
    /// Set once a parameter set differs from `config`: all parameter sets stay in-band (`avc3`).
    in_band: bool,
}

impl<W: Write + Seek> Mp4Muxer<W> {
    /// Writes `ftyp` and the `mdat` header at the current position of `out`.
    pub fn new(mut out: W, info: &VideoInfo) -> Result<Self> {
        let info = VideoInfo::new(info.width, info.height, info.fps)?;
        let mdat_pos = out.stream_position().map_err(write_err)?;
        let mut w = BoxWriter::new();
        w.boxed(*b"ftyp", |w| {
            w.bytes(b"isom");
            w.u32(0x200);
            for brand in [b"isom", b"iso2", b"avc1", b"mp41"] {
                w.bytes(brand);
            }
        });
        let ftyp_len = w.as_bytes().len() as u64;
        w.u32(1);
        w.bytes(b"mdat");
        w.u64(0); // patched by `finish`
        out.write_all(w.as_bytes()).map_err(write_err)?;
        Ok(Self {
            out,
            info,
            mdat_pos: mdat_pos + ftyp_len,
            mdat_len: 0,
            samples: Vec::new(),
            config: None,
            in_band: false,
        })
    }

    /// Appends one access unit (Annex B, one picture). The first must carry SPS and PPS.
    pub fn write_access_unit(&mut self, au: &[u8]) -> Result<()> {
        let index = self.samples.len();
        if index >= MAX_SAMPLES {
            return Err(Error::Mux(format!(
                "more than {MAX_SAMPLES} access units in one track"
            )));
        }
        let is_parameter_set = |t: NalType| matches!(t, NalType::Sps | NalType::Pps);
        let config = match &self.config {
            Some(config) => config,
            None => {
                let of_type = |ty: NalType| {
                    let mut sets: Vec<Vec<u8>> = Vec::new();
                    for nal in nal_units(au).filter(|n| n.nal_type() == ty) {
                        if !sets.iter().any(|s| s == nal.bytes) {
                            sets.push(nal.bytes.to_vec());
                        }
                    }
                    sets
                };
                let (sps, pps) = (of_type(NalType::Sps), of_type(NalType::Pps));
                if sps.is_empty() || pps.is_empty() {
                    return Err(Error::Mux(
                        "the first access unit has no SPS and PPS (the MP4 sample entry needs them)"
                            .into(),
                    ));
                }
                self.config.insert(AvcConfig {
                    nal_length_size: 4,
                    sps,
                    pps,
                })
            }
        };
        if !nal_units(au).any(|n| n.nal_type().is_vcl()) {
            return Err(Error::Mux(format!(
                "access unit {index} has no slice (it holds no picture)"
            )));
        }
        let known = |bytes: &[u8]| config.sps.iter().chain(&config.pps).any(|s| s == bytes);
        if !self.in_band && nal_units(au).any(|n| is_parameter_set(n.nal_type()) && !known(n.bytes))
        {
            tracing::debug!(
                access_unit = index,
                "parameter sets change: keeping them in-band (avc3)"
            );
            self.in_band = true;
        }
        let mut sample = Vec::with_capacity(au.len() + 16);
        let mut sync = false;
        for nal in nal_units(au) {
            let ty = nal.nal_type();
            if !self.in_band && is_parameter_set(ty) {
                continue; // identical to the `avcC` copy
            }
            sync |= ty == NalType::Idr;
            let len = u32::try_from(nal.bytes.len())
                .map_err(|_| Error::Mux(format!("NAL unit of {} bytes", nal.bytes.len())))?;
            sample.extend_from_slice(&len.to_be_bytes());
            sample.extend_from_slice(nal.bytes);
        }
        let size = u32::try_from(sample.len())
            .map_err(|_| Error::Mux(format!("access unit {index} of {} bytes", sample.len())))?;
        self.out.write_all(&sample).map_err(write_err)?;
        self.mdat_len += u64::from(size);
        self.samples.push((size, sync));
        Ok(())
    }

    /// Number of access units written.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// True before the first access unit.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Patches the `mdat` size, writes `moov` after it and returns the output.
    pub fn finish(mut self) -> Result<W> {
        let Some(config) = &self.config else {
            return Err(Error::Mux("no access units to write".into()));
        };
        let moov = self.moov(config)?;
        let end = self.mdat_pos + MDAT_HEADER + self.mdat_len;
        self.out
            .seek(SeekFrom::Start(self.mdat_pos + 8))
            .map_err(write_err)?;
        self.out
            .write_all(&(MDAT_HEADER + self.mdat_len).to_be_bytes())
            .map_err(write_err)?;
        self.out.seek(SeekFrom::Start(end)).map_err(write_err)?;
        self.out.write_all(&moov).map_err(write_err)?;
        self.out.flush().map_err(write_err)?;
        Ok(self.out)
    }

    fn moov(&self, config: &AvcConfig) -> Result<Vec<u8>> {
        let (width, height) = (self.info.width, self.info.height);
        let timescale = self.info.fps.num;
        let delta = self.info.fps.den;
        let count = self.samples.len() as u32; // at most MAX_SAMPLES
        let duration = u64::from(count) * u64::from(delta);
        let long = duration > u64::from(u32::MAX);
        // creation and modification times (0: unknown), then `middle`, then the duration,
        // 32-bit fields in version 0 and 64-bit in version 1.
        let times = |w: &mut BoxWriter, middle: &[u32]| {
            let field = |w: &mut BoxWriter, v: u64| {
                if long {
                    w.u64(v)
                } else {
                    w.u32(v as u32)
                }
            };
            field(w, 0);
            field(w, 0);
            middle.iter().for_each(|&v| w.u32(v));
            field(w, duration);
        };
        let version = u8::from(long);
        let mut sample_entry = BoxWriter::new();
        let kind = if self.in_band { *b"avc3" } else { *b"avc1" };
        config.write(&mut sample_entry)?; // fails early on a bad configuration
        let avcc = sample_entry.into_bytes();
        let first_offset = self.mdat_pos + MDAT_HEADER;

        let mut w = BoxWriter::new();
        w.boxed(*b"moov", |w| {
            w.full_box(*b"mvhd", version, 0, |w| {
                times(w, &[timescale]);
                w.u32(0x0001_0000); // rate 1.0
                w.u16(0x0100); // volume 1.0
                w.zeros(10);
                UNITY_MATRIX.iter().for_each(|&v| w.u32(v));
                w.zeros(24);
                w.u32(2); // next track ID
            });
            w.boxed(*b"trak", |w| {
                w.full_box(*b"tkhd", version, 0x3, |w| {
                    // enabled, in movie; track ID 1, reserved
                    times(w, &[1, 0]);
                    w.zeros(8);
                    w.u16(0); // layer
                    w.u16(0); // alternate group
                    w.u16(0); // volume: 0 for video
                    w.u16(0);
                    UNITY_MATRIX.iter().for_each(|&v| w.u32(v));
                    w.u32(width << 16);
                    w.u32(height << 16);
                });
                w.boxed(*b"mdia", |w| {
                    w.full_box(*b"mdhd", version, 0, |w| {
                        times(w, &[timescale]);
                        w.u16(0x55c4); // language "und"
                        w.u16(0);
                    });
                    w.full_box(*b"hdlr", 0, 0, |w| {
                        w.u32(0);
                        w.bytes(b"vide");
                        w.zeros(12);
                        w.bytes(b"bitswarm video\0");
                    });
                    w.boxed(*b"minf", |w| {
                        w.full_box(*b"vmhd", 0, 1, |w| w.zeros(8));
                        w.boxed(*b"dinf", |w| {
                            w.full_box(*b"dref", 0, 0, |w| {
                                w.u32(1);
                                w.full_box(*b"url ", 0, 1, |_| {}); // data in this file
                            });
                        });
                        w.boxed(*b"stbl", |w| {
                            w.full_box(*b"stsd", 0, 0, |w| {
                                w.u32(1);
                                w.boxed(kind, |w| {
                                    w.zeros(6);
                                    w.u16(1); // data reference index
                                    w.zeros(16);
                                    w.u16(width as u16); // VideoInfo keeps dimensions <= 8192
                                    w.u16(height as u16);
                                    w.u32(0x0048_0000); // 72 dpi
                                    w.u32(0x0048_0000);
                                    w.u32(0);
                                    w.u16(1); // frames per sample
                                    w.zeros(32); // compressor name
                                    w.u16(0x0018); // depth
                                    w.u16(0xffff); // pre-defined -1
                                    w.bytes(&avcc);
                                });
                            });
                            w.full_box(*b"stts", 0, 0, |w| {
                                w.u32(1);
                                w.u32(count);
                                w.u32(delta);
                            });
                            if self.samples.iter().any(|&(_, sync)| !sync) {
                                w.full_box(*b"stss", 0, 0, |w| {
                                    let syncs: Vec<u32> = (1..=count)
                                        .zip(&self.samples)
                                        .filter(|(_, &(_, sync))| sync)
                                        .map(|(n, _)| n)
                                        .collect();
                                    w.u32(syncs.len() as u32);
                                    syncs.iter().for_each(|&n| w.u32(n));
                                });
                            }
                            w.full_box(*b"stsc", 0, 0, |w| {
                                w.u32(1);
                                w.u32(1); // first chunk
                                w.u32(count); // samples per chunk: all in one
                                w.u32(1); // sample description index
                            });
                            w.full_box(*b"stsz", 0, 0, |w| {
                                w.u32(0);
                                w.u32(count);
                                self.samples.iter().for_each(|&(size, _)| w.u32(size));
                            });
                            match u32::try_from(first_offset) {
                                Ok(offset) => w.full_box(*b"stco", 0, 0, |w| {
                                    w.u32(1);
                                    w.u32(offset);
                                }),
                                Err(_) => w.full_box(*b"co64", 0, 0, |w| {
                                    w.u32(1);
                                    w.u64(first_offset);
                                }),
                            }
                        });
                    });
                });
            });
        });
        Ok(w.into_bytes())
    }
}

/// Muxes a whole Annex B H.264 stream (split into access units) into an MP4 file.
pub fn write_h264_mp4(out: impl Write + Seek, annexb: &[u8], info: &VideoInfo) -> Result<()> {
    let mut muxer = Mp4Muxer::new(out, info)?;
    for au in access_units(annexb) {
        muxer.write_access_unit(au)?;
    }
    muxer.finish().map(drop)
}

fn write_err(source: std::io::Error) -> Error {
    Error::Io {
        context: "cannot write MP4 output".into(),
        source,
    }
}
