//! Evolutionary search of a title's rate-quality hull with an ask/tell interface: the search
//! proposes candidates, the caller trial-encodes them and tells the rate and quality back. No
//! encoding, no I/O, no clock; the random choices come from a seeded ChaCha8 generator, so a
//! search is reproducible.
//!
//! - [`Search::ask`] returns the next batch (generation). The first batches are the initial
//!   candidates (clamped into the bounds, duplicates left out); later ones are mutations of
//!   members of the current upper hull ([`crate::upper_convex_hull`] of every result so far),
//!   each parent drawn uniformly. A candidate is never proposed twice. Until every candidate of
//!   a batch has been told, `ask` returns the untold ones again (it does not spend budget).
//! - Every proposed candidate counts against the budget: the search proposes exactly `budget`
//!   candidates unless it stops early. It stops (`ask` returns `None`) when the budget is spent,
//!   when `patience` generations in a row added no vertex to the hull, or when the mutation
//!   finds no untried candidate (the reachable space is exhausted; with every mutation rate 0
//!   that happens right after the initial candidates).
//! - [`Search::rungs`] picks a ladder from the hull.

use std::collections::VecDeque;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{upper_convex_hull, Bounds, Candidate, Error, Mutation, Point, Result};

/// Candidates per generation unless set with [`Search::with_batch_size`].
pub const DEFAULT_BATCH_SIZE: usize = 8;
/// Generations without a new hull vertex before the search stops, unless set with
/// [`Search::with_patience`].
pub const DEFAULT_PATIENCE: usize = 3;
/// Mutation attempts per wanted candidate before a generation is cut short.
const ATTEMPTS_PER_CANDIDATE: usize = 64;

/// One trial encode and its result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// Order in which the search proposed it (0, 1, ...); the `id` of its hull [`Point`].
    pub id: usize,
    pub candidate: Candidate,
    pub kbps: f64,
    pub quality: f64,
}

/// How rungs are spread over the hull.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Spread {
    /// Evenly in quality.
    Quality,
    /// Evenly in log(rate).
    LogRate,
}

/// What [`Search::rungs`] picks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RungTargets {
    /// Number of rungs (fewer when the hull has fewer vertices up to the top rung).
    pub count: usize,
    pub spread: Spread,
    /// The top rung is the cheapest hull vertex reaching this quality (e.g. VMAF 95); `None`
    /// or unreached: the best vertex.
    pub top_quality: Option<f64>,
}

/// One proposed candidate and, once told, its result.
#[derive(Debug)]
struct Slot {
    candidate: Candidate,
    result: Option<(f64, f64)>,
}

/// The state of one search.
#[derive(Debug)]
pub struct Search {
    bounds: Bounds,
    mutation: Mutation,
    rng: ChaCha8Rng,
    budget: usize,
    batch_size: usize,
    patience: usize,
    /// Initial candidates not proposed yet.
    queue: VecDeque<Candidate>,
    /// Every proposed candidate, in order (index = trial id).
    slots: Vec<Slot>,
    /// Ids of the latest generation.
    generation: std::ops::Range<usize>,
    hull: Vec<Point>,
    /// Generations in a row that added no hull vertex.
    stale: usize,
    finished: bool,
}

impl Search {
    /// A search in `bounds` starting from `initial` (at least one candidate; each is clamped
    /// into the bounds) that proposes at most `budget` candidates.
    pub fn new(
        bounds: Bounds,
        mutation: Mutation,
        initial: Vec<Candidate>,
        budget: usize,
        seed: u64,
    ) -> Result<Self> {
        bounds.validate()?;
        mutation.validate()?;
        if budget == 0 {
            return Err(Error::invalid(
                "search budget",
                "0".into(),
                ">= 1 trial encode",
            ));
        }
        let mut queue: VecDeque<Candidate> = VecDeque::new();
        for c in &initial {
            let c = bounds.clamp(c);
            if !queue.contains(&c) {
                queue.push_back(c);
            }
        }
        if queue.is_empty() {
            return Err(Error::invalid(
                "initial candidates",
                "[]".into(),
                "at least one (see initial_candidates)",
            ));
        }
        Ok(Self {
            bounds,
            mutation,
            rng: ChaCha8Rng::seed_from_u64(seed),
            budget,
            batch_size: DEFAULT_BATCH_SIZE,
            patience: DEFAULT_PATIENCE,
            queue,
            slots: Vec::new(),
            generation: 0..0,
            hull: Vec::new(),
            stale: 0,
            finished: false,
        })
    }

    /// Candidates per generation (at least 1).
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// Generations without a new hull vertex before the search stops (at least 1).
    pub fn with_patience(mut self, patience: usize) -> Self {
        self.patience = patience.max(1);
        self
    }

    /// The next candidates to trial-encode, or `None` when the search is over (module docs).
    pub fn ask(&mut self) -> Option<Vec<Candidate>> {
        if self.finished {
            return None;
        }
        let untold: Vec<Candidate> = self.slots[self.generation.clone()]
            .iter()
            .filter(|s| s.result.is_none())
            .map(|s| s.candidate)
            .collect();
        if !untold.is_empty() {
            return Some(untold);
        }
        if !self.generation.is_empty() {
            let improved = self.hull.iter().any(|p| self.generation.contains(&p.id));
            self.stale = if improved { 0 } else { self.stale + 1 };
        }
        let wanted = self
            .batch_size
            .min(self.budget.saturating_sub(self.slots.len()));
        let batch = if self.stale >= self.patience || wanted == 0 {
            Vec::new()
        } else {
            self.next_generation(wanted)
        };
        if batch.is_empty() {
            self.finished = true;
            return None;
        }
        let start = self.slots.len();
        self.slots.extend(batch.iter().map(|&candidate| Slot {
            candidate,
            result: None,
        }));
        self.generation = start..self.slots.len();
        Some(batch)
    }

    /// Records the trial encode of a candidate of the current generation: its rate (kbit/s,
    /// > 0) and quality (finite).
    pub fn tell(&mut self, candidate: &Candidate, kbps: f64, quality: f64) -> Result<()> {
        if !(kbps.is_finite() && kbps > 0.0 && quality.is_finite()) {
            return Err(Error::invalid(
                "trial result",
                format!("{kbps} kbit/s, quality {quality}"),
                "a finite rate > 0 and a finite quality",
            ));
        }
        let Some(id) = self
            .generation
            .clone()
            .find(|&i| self.slots[i].candidate == *candidate && self.slots[i].result.is_none())
        else {
            let told = self.slots.iter().any(|s| s.candidate == *candidate);
            return Err(Error::invalid(
                "told candidate",
                format!("{candidate:?}"),
                if told {
                    "a candidate not told yet (this one has its result)"
                } else {
                    "a candidate of the current generation (this one was not asked)"
                },
            ));
        };
        self.slots[id].result = Some((kbps, quality));
        self.hull = upper_convex_hull(&self.points());
        Ok(())
    }

    /// Every told trial, in proposal order.
    pub fn trials(&self) -> Vec<Trial> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(id, s)| {
                let (kbps, quality) = s.result?;
                Some(Trial {
                    id,
                    candidate: s.candidate,
                    kbps,
                    quality,
                })
            })
            .collect()
    }

    /// The vertices of the current upper hull, cheapest first.
    pub fn hull(&self) -> Vec<Trial> {
        self.hull.iter().filter_map(|p| self.trial(p.id)).collect()
    }

    /// Candidates proposed so far (told or not).
    pub fn proposed(&self) -> usize {
        self.slots.len()
    }

    /// The ladder picked from the hull: the top rung (see [`RungTargets::top_quality`]), the
    /// cheapest vertex, and in between the vertices nearest to evenly spaced targets of the
    /// spread (a single rung is the top one); cheapest first, without repeats.
    pub fn rungs(&self, targets: &RungTargets) -> Vec<Trial> {
        let top = targets
            .top_quality
            .and_then(|q| self.hull.iter().position(|p| p.quality >= q))
            .unwrap_or(self.hull.len().saturating_sub(1));
        let usable = &self.hull[..(top + 1).min(self.hull.len())];
        pick_rungs(usable, targets.count, targets.spread)
            .into_iter()
            .filter_map(|p| self.trial(p.id))
            .collect()
    }

    fn trial(&self, id: usize) -> Option<Trial> {
        let slot = self.slots.get(id)?;
        let (kbps, quality) = slot.result?;
        Some(Trial {
            id,
            candidate: slot.candidate,
            kbps,
            quality,
        })
    }

    fn points(&self) -> Vec<Point> {
        self.trials()
            .iter()
            .map(|t| Point {
                kbps: t.kbps,
                quality: t.quality,
                id: t.id,
            })
            .collect()
    }

    fn is_new(&self, c: &Candidate, batch: &[Candidate]) -> bool {
        !batch.contains(c) && !self.slots.iter().any(|s| s.candidate == *c)
    }

    /// Up to `wanted` untried candidates: initial ones first, then mutations of hull vertices
    /// (of the proposed candidates while no result is in).
    fn next_generation(&mut self, wanted: usize) -> Vec<Candidate> {
        let mut batch = Vec::with_capacity(wanted);
        while batch.len() < wanted {
            let Some(c) = self.queue.pop_front() else {
                break;
            };
            if self.is_new(&c, &batch) {
                batch.push(c);
            }
        }
        let parents: Vec<Candidate> = if !self.hull.is_empty() {
            self.hull
                .iter()
                .map(|p| self.slots[p.id].candidate)
                .collect()
        } else {
            self.slots.iter().map(|s| s.candidate).collect()
        };
        if parents.is_empty() {
            return batch;
        }
        let mut attempts = 0;
        while batch.len() < wanted && attempts < ATTEMPTS_PER_CANDIDATE * wanted {
            attempts += 1;
            let parent = parents[self.rng.gen_range(0..parents.len())];
            let child = self.mutation.mutate(&parent, &self.bounds, &mut self.rng);
            if self.is_new(&child, &batch) {
                batch.push(child);
            }
        }
        batch
    }
}

/// `count` points of `hull` (sorted by rate): its first and last, and the ones nearest to evenly
/// spaced targets in between.
fn pick_rungs(hull: &[Point], count: usize, spread: Spread) -> Vec<Point> {
    if count == 0 || hull.is_empty() {
        return Vec::new();
    }
    if count >= hull.len() {
        return hull.to_vec();
    }
    let coord = |p: &Point| match spread {
        Spread::Quality => p.quality,
        Spread::LogRate => p.kbps.ln(),
    };
    let last = hull.len() - 1;
    if count == 1 {
        return vec![hull[last]];
    }
    let (lo, hi) = (coord(&hull[0]), coord(&hull[last]));
    let mut chosen = vec![0, last];
    for i in 1..count - 1 {
        let target = lo + (hi - lo) * i as f64 / (count - 1) as f64;
        let nearest = (1..last).filter(|k| !chosen.contains(k)).min_by(|&a, &b| {
            (coord(&hull[a]) - target)
                .abs()
                .total_cmp(&(coord(&hull[b]) - target).abs())
        });
        if let Some(k) = nearest {
            chosen.push(k);
        }
    }
    chosen.sort_unstable();
    chosen.into_iter().map(|k| hull[k]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MutationRates;
    use bitswarm_core::{DeviceClass, EncoderKind, Rational, Tuning, VideoInfo};

    fn bounds() -> Bounds {
        let source = VideoInfo::new(1280, 720, Rational::new(25, 1).unwrap()).unwrap();
        Bounds::new(source, &[EncoderKind::X264], DeviceClass::Desktop).unwrap()
    }

    fn start(b: &Bounds, height: u32, crf: u8) -> Candidate {
        Candidate {
            width: b.width_for(height),
            height,
            encoder: EncoderKind::X264,
            crf_or_qp: crf,
            gop: 50,
            complexity: 5,
            tuning: Tuning::default(),
        }
    }

    /// Rate falls and quality falls with CRF; a simple monotone toy.
    fn encode(c: &Candidate) -> (f64, f64) {
        let pixels = f64::from(c.width * c.height);
        let kbps = pixels.powf(0.75) * 2f64.powf(-f64::from(c.crf_or_qp) / 6.0);
        (kbps, 100.0 - f64::from(c.crf_or_qp) * 1.5)
    }

    #[test]
    fn untold_candidates_are_asked_again_without_spending_budget() {
        let b = bounds();
        let init = vec![start(&b, 360, 30), start(&b, 720, 24), start(&b, 360, 30)];
        let mut s = Search::new(b, Mutation::default(), init, 10, 1).unwrap();
        let first = s.ask().unwrap();
        assert_eq!(
            first.len(),
            2,
            "the duplicate initial candidate is left out"
        );
        let (k, q) = encode(&first[0]);
        s.tell(&first[0], k, q).unwrap();
        assert_eq!(s.ask().unwrap(), first[1..]);
        assert_eq!(s.proposed(), 2);
        // Telling twice, or something never asked, is refused.
        assert!(s
            .tell(&first[0], k, q)
            .unwrap_err()
            .to_string()
            .ends_with("(expected a candidate not told yet (this one has its result))"));
        let stranger = Candidate {
            complexity: 9,
            ..first[1]
        };
        assert!(s
            .tell(&stranger, k, q)
            .unwrap_err()
            .to_string()
            .ends_with("(this one was not asked))"));
        assert_eq!(
            s.tell(&first[1], 0.0, q).unwrap_err().to_string(),
            format!("invalid trial result 0 kbit/s, quality {q} (expected a finite rate > 0 and a finite quality)")
        );
    }

    #[test]
    fn zero_mutation_stops_after_the_initial_candidates() {
        let b = bounds();
        let m = Mutation {
            rates: MutationRates::all(0.0),
            ..Mutation::default()
        };
        let init = vec![start(&b, 360, 30), start(&b, 720, 24)];
        let mut s = Search::new(b, m, init, 50, 1).unwrap();
        let batch = s.ask().unwrap();
        for c in &batch {
            let (k, q) = encode(c);
            s.tell(c, k, q).unwrap();
        }
        assert_eq!(s.ask(), None);
        assert_eq!(s.ask(), None);
        assert_eq!(s.trials().len(), 2);
    }

    #[test]
    fn new_refuses_bad_settings() {
        let b = bounds();
        let err = |budget, init: Vec<Candidate>| {
            Search::new(b.clone(), Mutation::default(), init, budget, 0)
                .err()
                .map(|e| e.to_string())
        };
        assert_eq!(
            err(0, vec![start(&b, 360, 30)]),
            Some("invalid search budget 0 (expected >= 1 trial encode)".into())
        );
        assert_eq!(
            err(5, vec![]),
            Some(
                "invalid initial candidates [] (expected at least one (see initial_candidates))"
                    .into()
            )
        );
    }

    fn point(kbps: f64, quality: f64, id: usize) -> Point {
        Point { kbps, quality, id }
    }

    #[test]
    fn rung_picking() {
        let hull: Vec<Point> = [
            (100.0, 40.0),
            (200.0, 60.0),
            (400.0, 75.0),
            (800.0, 85.0),
            (1600.0, 92.0),
            (3200.0, 96.0),
        ]
        .iter()
        .enumerate()
        .map(|(id, &(k, q))| point(k, q, id))
        .collect();
        let ids = |v: Vec<Point>| v.iter().map(|p| p.id).collect::<Vec<_>>();
        // Quality targets 40, 58.67, 77.33, 96 -> vertices 0, 1 (60), 2 (75), 5.
        assert_eq!(ids(pick_rungs(&hull, 4, Spread::Quality)), [0, 1, 2, 5]);
        // Log-rate targets: 100, 317, 1008, 3200 -> vertices 0, 2 (400), 3 (800), 5.
        assert_eq!(ids(pick_rungs(&hull, 4, Spread::LogRate)), [0, 2, 3, 5]);
        assert_eq!(ids(pick_rungs(&hull, 1, Spread::Quality)), [5]);
        assert_eq!(
            ids(pick_rungs(&hull, 10, Spread::Quality)),
            [0, 1, 2, 3, 4, 5]
        );
        assert!(pick_rungs(&hull, 0, Spread::Quality).is_empty());
        assert!(pick_rungs(&[], 3, Spread::Quality).is_empty());
    }
}
