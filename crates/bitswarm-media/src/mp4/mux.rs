//! Streaming MP4 muxer for one video track: H.264 (`avc1`/`avc3`), HEVC (`hvc1`/`hev1`) or AV1
//! (`av01`).
//!
//! Layout: `ftyp`, then one `mdat` (64-bit size, patched at the end) holding every sample in one
//! chunk, then `moov`. Only the sample table (size and sync flag per sample) stays in memory.
//!
//! H.264 and HEVC parameter sets: those of the first access unit go into `avcC`/`hvcC`. Later
//! copies that are byte-identical are dropped from the samples, so a stream whose parameter sets
//! never change becomes a plain `avc1`/`hvc1` track. Once a different parameter set shows up,
//! every parameter set from that access unit on stays in the samples and the sample entry is
//! `avc3`/`hev1` (parameter sets in-band).
//!
//! AV1: samples are temporal units without their temporal delimiters (AV1-ISOBMFF 2.4); the first
//! sequence header goes into `av1C` and the copies in front of later key frames stay in the
//! samples. A later sequence header with another profile, level, tier or format is refused.

use std::io::{Seek, SeekFrom, Write};

use bitswarm_codec::annexb::{nal_units, Nal, NalType};
use bitswarm_codec::poc::{display_positions, PictureOrder, Poc};
use bitswarm_codec::{av1, hevc, split_units};
use bitswarm_core::{Codec, VideoInfo};

use super::configs::{Av1Config, HevcConfig};
use super::AvcConfig;
use crate::bmff::{BoxWriter, FourCc, UNITY_MATRIX};
use crate::{Error, Result};

/// Size of the `mdat` header we write: 32-bit size 1, type, 64-bit size.
const MDAT_HEADER: u64 = 16;

/// Most samples one track may hold: keeps the in-memory sample table well below 4 GiB.
const MAX_SAMPLES: usize = 1 << 26;

/// The decoder configuration of the track, taken from its first sample.
#[derive(Debug)]
enum TrackConfig {
    Avc(AvcConfig),
    Hevc(HevcConfig),
    Av1(Av1Config),
}

impl TrackConfig {
    /// True for a parameter set already in the configuration record.
    fn knows(&self, nal: &[u8]) -> bool {
        match self {
            TrackConfig::Avc(c) => c.sps.iter().chain(&c.pps).any(|s| s == nal),
            TrackConfig::Hevc(c) => c.parameter_sets().any(|s| s == nal),
            TrackConfig::Av1(_) => false,
        }
    }

    /// The sample entry type and its configuration box.
    fn sample_entry(&self, in_band: bool) -> Result<(FourCc, Vec<u8>)> {
        let mut w = BoxWriter::new();
        let kind = match self {
            TrackConfig::Avc(c) => {
                c.write(&mut w)?;
                if in_band {
                    *b"avc3"
                } else {
                    *b"avc1"
                }
            }
            TrackConfig::Hevc(c) => {
                c.write(&mut w, !in_band)?;
                if in_band {
                    *b"hev1"
                } else {
                    *b"hvc1"
                }
            }
            TrackConfig::Av1(c) => {
                c.write(&mut w);
                *b"av01"
            }
        };
        Ok((kind, w.into_bytes()))
    }
}

/// How an Annex B codec marks its NAL units.
struct NalRules {
    is_parameter_set: fn(&Nal<'_>) -> bool,
    is_vcl: fn(&Nal<'_>) -> bool,
    is_sync: fn(&Nal<'_>) -> bool,
}

const H264_RULES: NalRules = NalRules {
    is_parameter_set: |n| matches!(n.nal_type(), NalType::Sps | NalType::Pps),
    is_vcl: |n| n.nal_type().is_vcl(),
    is_sync: |n| n.nal_type() == NalType::Idr,
};

const HEVC_RULES: NalRules = NalRules {
    is_parameter_set: |n| hevc::is_parameter_set(hevc::nal_type(n)),
    is_vcl: |n| hevc::is_vcl(hevc::nal_type(n)),
    is_sync: |n| hevc::is_irap(hevc::nal_type(n)),
};

/// Writes the samples of one video track into an MP4 file as they come.
pub struct Mp4Muxer<W: Write + Seek> {
    out: W,
    info: VideoInfo,
    codec: Codec,
    /// File position of the `mdat` box.
    mdat_pos: u64,
    /// Bytes of sample data written so far.
    mdat_len: u64,
    /// Size and sync flag of every sample written.
    samples: Vec<(u32, bool)>,
    /// The configuration record, from the first sample.
    config: Option<TrackConfig>,
    /// Set once a parameter set differs from `config`: all parameter sets stay in-band
    /// (`avc3`/`hev1`).
    in_band: bool,
    /// H.264 and HEVC: picture order of every sample (B-frames are shown after they are
    /// decoded), for `ctts`.
    order: Option<(PictureOrder, Vec<Poc>)>,
}

impl<W: Write + Seek> Mp4Muxer<W> {
    /// An H.264 muxer (see [`Mp4Muxer::with_codec`]).
    pub fn new(out: W, info: &VideoInfo) -> Result<Self> {
        Self::with_codec(out, info, Codec::H264)
    }

    /// Writes `ftyp` and the `mdat` header at the current position of `out`, for a track of
    /// `codec`.
    pub fn with_codec(mut out: W, info: &VideoInfo, codec: Codec) -> Result<Self> {
        let info = VideoInfo::new(info.width, info.height, info.fps)?;
        let mdat_pos = out.stream_position().map_err(write_err)?;
        let mut w = BoxWriter::new();
        let brands: &[&[u8; 4]] = match codec {
            Codec::H264 => &[b"isom", b"iso2", b"avc1", b"mp41"],
            Codec::Hevc => &[b"isom", b"iso2", b"mp41"],
            Codec::Av1 => &[b"isom", b"iso2", b"av01", b"mp41"],
        };
        w.boxed(*b"ftyp", |w| {
            w.bytes(b"isom");
            w.u32(0x200);
            for brand in brands {
                w.bytes(*brand);
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
            codec,
            mdat_pos: mdat_pos + ftyp_len,
            mdat_len: 0,
            samples: Vec::new(),
            config: None,
            in_band: false,
            order: match codec {
                Codec::Av1 => None,
                _ => Some((PictureOrder::new(codec)?, Vec::new())),
            },
        })
    }

    /// Appends one picture: an Annex B access unit (H.264, HEVC; the first must carry the
    /// parameter sets) or an AV1 temporal unit (the first must carry a sequence header).
    pub fn write_access_unit(&mut self, unit: &[u8]) -> Result<()> {
        let index = self.samples.len();
        if index >= MAX_SAMPLES {
            return Err(Error::Mux(format!(
                "more than {MAX_SAMPLES} access units in one track"
            )));
        }
        let (sample, sync) = match self.codec {
            Codec::H264 => self.annexb_sample(unit, index, &H264_RULES)?,
            Codec::Hevc => self.annexb_sample(unit, index, &HEVC_RULES)?,
            Codec::Av1 => self.av1_sample(unit, index)?,
        };
        if let Some((order, pocs)) = &mut self.order {
            let poc = order
                .next(unit)
                .map_err(|e| Error::Mux(format!("access unit {index}: {e}")))?;
            pocs.push(poc);
        }
        let size = u32::try_from(sample.len())
            .map_err(|_| Error::Mux(format!("access unit {index} of {} bytes", sample.len())))?;
        self.out.write_all(&sample).map_err(write_err)?;
        self.mdat_len += u64::from(size);
        self.samples.push((size, sync));
        Ok(())
    }

    /// An H.264 or HEVC sample: length-prefixed NAL units, known parameter sets dropped.
    fn annexb_sample(
        &mut self,
        au: &[u8],
        index: usize,
        rules: &NalRules,
    ) -> Result<(Vec<u8>, bool)> {
        let codec = self.codec;
        let config = match &mut self.config {
            Some(config) => &*config,
            slot @ None => &*slot.insert(annexb_config(codec, au, rules)?),
        };
        if !nal_units(au).any(|n| (rules.is_vcl)(&n)) {
            return Err(Error::Mux(format!(
                "access unit {index} has no slice (it holds no picture)"
            )));
        }
        if !self.in_band
            && nal_units(au).any(|n| (rules.is_parameter_set)(&n) && !config.knows(n.bytes))
        {
            tracing::debug!(
                access_unit = index,
                "parameter sets change: keeping them in-band"
            );
            self.in_band = true;
        }
        let mut sample = Vec::with_capacity(au.len() + 16);
        let mut sync = false;
        for nal in nal_units(au) {
            if !self.in_band && (rules.is_parameter_set)(&nal) {
                continue; // identical to the record's copy
            }
            sync |= (rules.is_sync)(&nal);
            let len = u32::try_from(nal.bytes.len())
                .map_err(|_| Error::Mux(format!("NAL unit of {} bytes", nal.bytes.len())))?;
            sample.extend_from_slice(&len.to_be_bytes());
            sample.extend_from_slice(nal.bytes);
        }
        Ok((sample, sync))
    }

    /// An AV1 sample: the temporal unit's OBUs without temporal delimiters and padding.
    fn av1_sample(&mut self, unit: &[u8], index: usize) -> Result<(Vec<u8>, bool)> {
        let mut sample = Vec::with_capacity(unit.len());
        let mut pictures = 0;
        for obu in av1::obus(unit) {
            let obu = obu.map_err(|e| Error::Mux(format!("temporal unit {index}: {e}")))?;
            match obu.obu_type {
                av1::OBU_TEMPORAL_DELIMITER | av1::OBU_PADDING => continue,
                av1::OBU_SEQUENCE_HEADER => match &self.config {
                    None => self.config = Some(TrackConfig::Av1(Av1Config::new(&obu, unit)?)),
                    Some(config) => {
                        let header = av1::parse_sequence_header(obu.payload);
                        let compatible = match (config, header) {
                            (TrackConfig::Av1(config), Some(header)) => config.compatible(&header),
                            _ => false,
                        };
                        if !compatible {
                            return Err(Error::Mux(format!(
                                "temporal unit {index} changes the AV1 profile, level or format \
                                 (one MP4 track holds one)"
                            )));
                        }
                    }
                },
                av1::OBU_FRAME | av1::OBU_FRAME_HEADER => pictures += 1,
                _ => {}
            }
            sample.extend_from_slice(&unit[obu.range]);
        }
        if self.config.is_none() {
            return Err(Error::Mux(
                "the first AV1 temporal unit has no sequence header (the MP4 sample entry needs it)"
                    .into(),
            ));
        }
        if pictures == 0 {
            return Err(Error::Mux(format!(
                "temporal unit {index} has no frame (it holds no picture)"
            )));
        }
        Ok((sample, av1::is_key_frame(unit)))
    }

    /// Number of samples written.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// True before the first sample.
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

    fn moov(&self, config: &TrackConfig) -> Result<Vec<u8>> {
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
        // Fails early on a bad configuration.
        let (kind, config_box) = config.sample_entry(self.in_band)?;
        let (composition, shift) = self.composition_offsets()?;
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
                if shift > 0 {
                    // Presentation starts at the first frame shown, `shift` ticks into the media.
                    w.boxed(*b"edts", |w| {
                        w.full_box(*b"elst", version, 0, |w| {
                            w.u32(1);
                            if long {
                                w.u64(duration);
                                w.u64(u64::from(shift));
                            } else {
                                w.u32(duration as u32);
                                w.u32(shift);
                            }
                            w.u16(1); // media rate 1.0
                            w.u16(0);
                        });
                    });
                }
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
                                    w.bytes(&config_box);
                                });
                            });
                            w.full_box(*b"stts", 0, 0, |w| {
                                w.u32(1);
                                w.u32(count);
                                w.u32(delta);
                            });
                            if !composition.is_empty() {
                                w.full_box(*b"ctts", 0, 0, |w| {
                                    w.u32(composition.len() as u32);
                                    for &(run, offset) in &composition {
                                        w.u32(run);
                                        w.u32(offset);
                                    }
                                });
                            }
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

impl<W: Write + Seek> Mp4Muxer<W> {
    /// `ctts` runs (sample count, offset in ticks) and the shift that keeps every offset
    /// non-negative, from the picture order: a sample's offset is where it is shown minus where
    /// it is decoded, plus the shift. Empty when every sample is shown in decoding order.
    fn composition_offsets(&self) -> Result<(Vec<(u32, u32)>, u32)> {
        let Some((_, pocs)) = &self.order else {
            return Ok((Vec::new(), 0));
        };
        let frames: Vec<i64> = display_positions(pocs)
            .iter()
            .enumerate()
            .map(|(decoded, &shown)| shown as i64 - decoded as i64)
            .collect();
        if frames.iter().all(|&f| f == 0) {
            return Ok((Vec::new(), 0));
        }
        let shift_frames = frames.iter().map(|&f| -f).max().unwrap_or(0).max(0);
        let ticks = |f: i64| {
            u32::try_from(f * i64::from(self.info.fps.den))
                .map_err(|_| Error::Mux("composition offsets beyond 32 bits".into()))
        };
        let mut runs: Vec<(u32, u32)> = Vec::new();
        for &f in &frames {
            let offset = ticks(f + shift_frames)?;
            match runs.last_mut() {
                Some((run, last)) if *last == offset => *run += 1,
                _ => runs.push((1, offset)),
            }
        }
        Ok((runs, ticks(shift_frames)?))
    }
}

/// The configuration record from the first access unit of an H.264 or HEVC stream.
fn annexb_config(codec: Codec, au: &[u8], rules: &NalRules) -> Result<TrackConfig> {
    let of_type = |wanted: &dyn Fn(&Nal<'_>) -> bool| {
        let mut sets: Vec<Vec<u8>> = Vec::new();
        for nal in nal_units(au).filter(|n| (rules.is_parameter_set)(n) && wanted(n)) {
            if !sets.iter().any(|s| s == nal.bytes) {
                sets.push(nal.bytes.to_vec());
            }
        }
        sets
    };
    Ok(match codec {
        Codec::Hevc => {
            let hevc_type = |t: u8| move |n: &Nal<'_>| hevc::nal_type(n) == t;
            TrackConfig::Hevc(HevcConfig::new(
                of_type(&hevc_type(hevc::VPS)),
                of_type(&hevc_type(hevc::SPS)),
                of_type(&hevc_type(hevc::PPS)),
            )?)
        }
        _ => {
            let (sps, pps) = (
                of_type(&|n| n.nal_type() == NalType::Sps),
                of_type(&|n| n.nal_type() == NalType::Pps),
            );
            if sps.is_empty() || pps.is_empty() {
                return Err(Error::Mux(
                    "the first access unit has no SPS and PPS (the MP4 sample entry needs them)"
                        .into(),
                ));
            }
            TrackConfig::Avc(AvcConfig {
                nal_length_size: 4,
                sps,
                pps,
            })
        }
    })
}

/// Muxes a whole elementary stream of `codec` (split into access or temporal units) into an MP4
/// file.
pub fn write_mp4(
    out: impl Write + Seek,
    codec: Codec,
    stream: &[u8],
    info: &VideoInfo,
) -> Result<()> {
    let mut muxer = Mp4Muxer::with_codec(out, info, codec)?;
    for unit in split_units(codec, stream)? {
        muxer.write_access_unit(unit)?;
    }
    muxer.finish().map(drop)
}

fn write_err(source: std::io::Error) -> Error {
    Error::Io {
        context: "cannot write MP4 output".into(),
        source,
    }
}
