//! The on-disk journal of a job: finished chunks survive a failed run, and `--resume` skips them.
//!
//! Layout under `OUTDIR/journal/`: `job.json` (what the job is: input and configuration
//! fingerprint), `chunks.jsonl` (one line per finished chunk, appended after its data file is
//! complete), `chunks/NNNNNN.es` (the chunk's elementary stream).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use bitswarm_controller::{ChunkSpan, SwarmConfig};
use bitswarm_core::RateControl;

use crate::{Config, Error, Result};

/// What identifies a job, so a journal is never applied to another input or configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobIdentity {
    pub input: String,
    pub input_bytes: Option<u64>,
    /// CRC-32 of the job's configuration as TOML.
    pub config_crc: u32,
}

impl JobIdentity {
    /// The identity of a job of `input` (a path, or `-` for stdin) with `config`: the input's
    /// canonical path and size, and the fingerprint of the settings that change the output.
    pub fn of(input: &str, config: &Config) -> Self {
        Self {
            input: if input == "-" {
                "-".into()
            } else {
                fs::canonicalize(input).map_or(input.to_owned(), |p| p.display().to_string())
            },
            input_bytes: fs::metadata(input).ok().map(|m| m.len()),
            config_crc: config.output_fingerprint(),
        }
    }
}

/// A finished chunk as recorded in the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    #[serde(flatten)]
    pub span: ChunkSpan,
    pub config: SwarmConfig,
    /// The rate control the chunk was encoded with (absent in journals of older versions: the
    /// profile's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<RateControl>,
    pub bytes: u64,
    pub crc32: u32,
}

/// An open journal.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    identity: JobIdentity,
    log: File,
    done: BTreeMap<u32, JournalEntry>,
}

impl Journal {
    /// The job whose journal `outdir` holds, if it holds a readable one: a job started there and
    /// had not written its outputs (a finished job removes its journal).
    pub fn owner(outdir: &Path) -> Option<JobIdentity> {
        let text = fs::read(journal_dir(outdir).join(JOB_FILE)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Opens the journal in `outdir`. With `resume`, finished chunks of the same job are kept;
    /// otherwise any earlier journal is discarded.
    pub fn open(outdir: &Path, identity: &JobIdentity, resume: bool) -> Result<Self> {
        let dir = journal_dir(outdir);
        let job_file = dir.join(JOB_FILE);
        let mut done = BTreeMap::new();
        if resume {
            let text = fs::read_to_string(&job_file).map_err(|e| {
                Error::Resume(format!("no journal to resume in {} ({e})", dir.display()))
            })?;
            let recorded: JobIdentity = serde_json::from_str(&text)
                .map_err(|e| Error::Resume(format!("unreadable {}: {e}", job_file.display())))?;
            if &recorded != identity {
                return Err(Error::Resume(format!(
                    "the journal in {} belongs to another job (input {:?}, or another configuration)",
                    dir.display(),
                    recorded.input
                )));
            }
            let log = File::open(dir.join("chunks.jsonl"))?;
            for line in BufReader::new(log).lines() {
                let line = line?;
                // A torn last line (the run died while appending) is ignored.
                let Ok(entry) = serde_json::from_str::<JournalEntry>(&line) else {
                    continue;
                };
                let path = chunk_path(&dir, entry.span.index);
                if fs::read(&path).is_ok_and(|data| crc32fast::hash(&data) == entry.crc32) {
                    done.insert(entry.span.index, entry);
                }
            }
        } else if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(dir.join("chunks"))?;
        fs::write(
            &job_file,
            serde_json::to_vec_pretty(identity).expect("identity serialises"),
        )?;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("chunks.jsonl"))?;
        Ok(Self {
            dir,
            identity: identity.clone(),
            log,
            done,
        })
    }

    /// What the journal belongs to.
    pub fn identity(&self) -> &JobIdentity {
        &self.identity
    }

    /// The finished chunk with this span, if the journal has it.
    pub fn finished(&self, span: &ChunkSpan) -> Option<&JournalEntry> {
        self.done.get(&span.index).filter(|e| e.span == *span)
    }

    /// Records a finished chunk: data first, then the log line.
    pub fn record(
        &mut self,
        span: ChunkSpan,
        config: SwarmConfig,
        rate: RateControl,
        data: &[u8],
    ) -> Result<()> {
        let path = chunk_path(&self.dir, span.index);
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, data)?;
        fs::rename(&tmp, &path)?;
        let entry = JournalEntry {
            span,
            config,
            rate: Some(rate),
            bytes: data.len() as u64,
            crc32: crc32fast::hash(data),
        };
        let mut line = serde_json::to_vec(&entry).expect("entry serialises");
        line.push(b'\n');
        self.log.write_all(&line)?;
        self.log.flush()?;
        self.done.insert(span.index, entry);
        Ok(())
    }

    /// Where the data of chunk `index` is kept.
    pub fn chunk_path(&self, index: u32) -> PathBuf {
        chunk_path(&self.dir, index)
    }

    /// Every chunk's data in order, for the output (chunks `0..count` must all be finished).
    pub fn chunk_files(&self, count: u32) -> Result<Vec<PathBuf>> {
        (0..count)
            .map(|i| {
                self.done
                    .contains_key(&i)
                    .then(|| chunk_path(&self.dir, i))
                    .ok_or_else(|| Error::Output(format!("chunk {i} is missing from the journal")))
            })
            .collect()
    }

    /// Removes the journal after a successful job.
    pub fn remove(&self) -> Result<()> {
        fs::remove_dir_all(&self.dir)?;
        Ok(())
    }
}

/// The file naming the job a journal belongs to.
const JOB_FILE: &str = "job.json";

fn journal_dir(outdir: &Path) -> PathBuf {
    outdir.join("journal")
}

fn chunk_path(dir: &Path, index: u32) -> PathBuf {
    dir.join("chunks").join(format!("{index:06}.es"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(input: &str) -> JobIdentity {
        JobIdentity {
            input: input.into(),
            input_bytes: Some(10),
            config_crc: 7,
        }
    }

    fn span(index: u32) -> ChunkSpan {
        ChunkSpan {
            index,
            first_frame: u64::from(index) * 5,
            frames: 5,
            scene: 0,
        }
    }

    const CFG: SwarmConfig = SwarmConfig {
        swarm_size: 1,
        complexity_level: 5,
        redundancy: 0,
    };
    const RATE: RateControl = RateControl::Qp { qp: 26 };

    #[test]
    fn finished_chunks_survive_and_resume_checks_the_job() {
        let out = tempfile::tempdir().unwrap();
        let mut j = Journal::open(out.path(), &id("a.y4m"), false).unwrap();
        j.record(span(0), CFG, RATE, b"chunk zero").unwrap();
        j.record(span(1), CFG, RATE, b"chunk one").unwrap();
        drop(j);
        // a corrupted chunk file is not trusted
        fs::write(out.path().join("journal/chunks/000001.es"), b"chunk 0ne").unwrap();
        let j = Journal::open(out.path(), &id("a.y4m"), true).unwrap();
        assert_eq!(j.finished(&span(0)).unwrap().bytes, 10);
        assert_eq!(j.finished(&span(0)).unwrap().rate, Some(RATE));
        assert!(j.finished(&span(1)).is_none());
        assert!(
            j.finished(&ChunkSpan {
                frames: 4,
                ..span(0)
            })
            .is_none(),
            "other span, other chunk"
        );
        let err = Journal::open(out.path(), &id("b.y4m"), true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("belongs to another job"), "{err}");
        // a fresh run forgets the journal
        let j = Journal::open(out.path(), &id("a.y4m"), false).unwrap();
        assert!(j.finished(&span(0)).is_none());
        assert!(j.chunk_files(1).is_err());
    }

    #[test]
    fn resume_without_a_journal_is_a_clear_error() {
        let out = tempfile::tempdir().unwrap();
        let err = Journal::open(out.path(), &id("a"), true)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("cannot resume: no journal to resume in"),
            "{err}"
        );
    }
}
