//! Mutation of a candidate: the knobs a learning agent tunes later.
//!
//! Each parameter mutates with its own probability ([`MutationRates`]) by a random step of at
//! most its step size ([`MutationSteps`]); the result is always inside the [`Bounds`] (the
//! input is first moved into them with [`Bounds::clamp`], the output clamped again). With
//! every rate 0 a candidate inside the bounds comes back unchanged.
//!
//! | parameter | how it moves |
//! |---|---|
//! | encoder | another allowed encoder, its quantiser moved to the same relative place in its window |
//! | resolution | up or down by 1..=`resolution` steps of the allowed heights |
//! | crf_or_qp | up or down by 1..=`crf_or_qp` |
//! | gop | multiplied by `gop_factor^u`, `u` uniform in -1..=1 |
//! | complexity | up or down by 1..=`complexity` |
//! | aq_mode, refs | unset: a uniform allowed value; set: back to the encoder default with probability `tuning_reset`, else up or down by 1..=step |
//! | aq_strength, psy_rd | the same, with a uniform step in -step..=step, rounded to 0.01 |
//! | tune | another of (default, the tunes the encoder may use) |
//!
//! A step of 0 (or a `gop_factor` of 1) leaves that parameter where it is. Tuning knobs that the
//! bounds leave out or the encoder does not honour stay at the encoder's default.

use std::ops::RangeInclusive;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::space::{clamp_to, map_quantiser};
use crate::{Bounds, Candidate, Error, Result};

/// Probability that each parameter mutates (0..=1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MutationRates {
    pub encoder: f64,
    pub resolution: f64,
    pub crf_or_qp: f64,
    pub gop: f64,
    pub complexity: f64,
    pub aq_mode: f64,
    pub aq_strength: f64,
    pub psy_rd: f64,
    pub refs: f64,
    pub tune: f64,
    /// When a set tuning knob mutates: probability that it returns to the encoder default.
    pub tuning_reset: f64,
}

impl MutationRates {
    /// Every rate, `tuning_reset` included, set to `rate` (`all(0.0)`: nothing mutates).
    pub fn all(rate: f64) -> Self {
        Self {
            encoder: rate,
            resolution: rate,
            crf_or_qp: rate,
            gop: rate,
            complexity: rate,
            aq_mode: rate,
            aq_strength: rate,
            psy_rd: rate,
            refs: rate,
            tune: rate,
            tuning_reset: rate,
        }
    }
}

impl Default for MutationRates {
    fn default() -> Self {
        Self {
            encoder: 0.05,
            resolution: 0.4,
            crf_or_qp: 0.7,
            gop: 0.1,
            complexity: 0.1,
            aq_mode: 0.05,
            aq_strength: 0.05,
            psy_rd: 0.05,
            refs: 0.05,
            tune: 0.05,
            tuning_reset: 0.25,
        }
    }
}

/// Largest step of each parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MutationSteps {
    /// Steps of the allowed heights.
    pub resolution: u32,
    pub crf_or_qp: u8,
    /// The GOP is multiplied or divided by up to this factor (>= 1).
    pub gop_factor: f64,
    pub complexity: u8,
    pub aq_mode: u8,
    pub aq_strength: f32,
    pub psy_rd: f32,
    pub refs: u8,
}

impl Default for MutationSteps {
    fn default() -> Self {
        Self {
            resolution: 1,
            crf_or_qp: 4,
            gop_factor: 2.0,
            complexity: 2,
            aq_mode: 1,
            aq_strength: 0.3,
            psy_rd: 0.5,
            refs: 2,
        }
    }
}

/// How candidates mutate: per-parameter probabilities and step sizes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mutation {
    pub rates: MutationRates,
    pub steps: MutationSteps,
}

impl Mutation {
    /// Checks that rates are probabilities and steps are usable.
    pub fn validate(&self) -> Result<()> {
        let r = &self.rates;
        for (name, rate) in [
            ("encoder", r.encoder),
            ("resolution", r.resolution),
            ("crf_or_qp", r.crf_or_qp),
            ("gop", r.gop),
            ("complexity", r.complexity),
            ("aq_mode", r.aq_mode),
            ("aq_strength", r.aq_strength),
            ("psy_rd", r.psy_rd),
            ("refs", r.refs),
            ("tune", r.tune),
            ("tuning_reset", r.tuning_reset),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(Error::invalid(
                    &format!("mutation rate {name}"),
                    rate.to_string(),
                    "a probability in 0..=1",
                ));
            }
        }
        let s = &self.steps;
        if !(s.gop_factor.is_finite() && s.gop_factor >= 1.0) {
            return Err(Error::invalid(
                "mutation step gop_factor",
                s.gop_factor.to_string(),
                "a finite factor >= 1",
            ));
        }
        for (name, step) in [("aq_strength", s.aq_strength), ("psy_rd", s.psy_rd)] {
            if !(step.is_finite() && step >= 0.0) {
                return Err(Error::invalid(
                    &format!("mutation step {name}"),
                    step.to_string(),
                    "a finite number >= 0",
                ));
            }
        }
        Ok(())
    }

    /// A mutated copy of `c`, inside `bounds` (see the module docs). Parameters that do not
    /// validate are used as far as they make sense (a rate outside 0..=1 acts as 0 or 1, an
    /// unusable step as 0), so the result is inside the bounds whatever they are.
    pub fn mutate(&self, c: &Candidate, bounds: &Bounds, rng: &mut impl Rng) -> Candidate {
        let rates = &self.rates;
        let steps = &self.steps;
        let mut c = bounds.clamp(c);

        if hit(rng, rates.encoder) {
            let others: Vec<_> = bounds
                .encoders
                .iter()
                .filter(|e| e.encoder != c.encoder)
                .collect();
            if let (Some(from), false) = (bounds.encoder(c.encoder), others.is_empty()) {
                let to = others[rng.gen_range(0..others.len())];
                c.crf_or_qp = map_quantiser(c.crf_or_qp, &from.crf_or_qp, &to.crf_or_qp);
                c.encoder = to.encoder;
                // Tuning the new encoder does not honour goes back to its default.
                c = bounds.clamp(&c);
            }
        }
        if hit(rng, rates.resolution) && !bounds.heights.is_empty() {
            let last = bounds.heights.len() - 1;
            let index = bounds.nearest_height_index(c.height);
            let moved = step_index(rng, index, last, steps.resolution);
            c.height = bounds.heights[moved];
            c.width = bounds.width_for(c.height);
        }
        if hit(rng, rates.crf_or_qp) {
            c.crf_or_qp = step_u8(rng, c.crf_or_qp, steps.crf_or_qp);
        }
        if hit(rng, rates.gop) && steps.gop_factor.is_finite() && steps.gop_factor > 1.0 {
            let factor = steps.gop_factor.powf(rng.gen_range(-1.0..=1.0));
            // Clamped into the u32 range before the cast.
            c.gop = (f64::from(c.gop) * factor)
                .round()
                .clamp(1.0, f64::from(u32::MAX)) as u32;
        }
        if hit(rng, rates.complexity) {
            c.complexity = step_u8(rng, c.complexity, steps.complexity);
        }
        self.mutate_tuning(&mut c, bounds, rng);
        bounds.clamp(&c)
    }

    fn mutate_tuning(&self, c: &mut Candidate, bounds: &Bounds, rng: &mut impl Rng) {
        let (rates, steps, tb) = (&self.rates, &self.steps, &bounds.tuning);
        let t = &mut c.tuning;
        let reset = rates.tuning_reset;

        let modes = tb.aq_modes(c.encoder);
        if hit(rng, rates.aq_mode) && !modes.is_empty() {
            t.aq_mode = match t.aq_mode {
                None => Some(modes[rng.gen_range(0..modes.len())]),
                Some(_) if hit(rng, reset) => None,
                Some(m) => Some(step_u8(rng, m, steps.aq_mode)),
            };
        }
        if let Some(range) = tb.refs_for(c.encoder).filter(|_| hit(rng, rates.refs)) {
            t.refs = match t.refs {
                None => Some(uniform(rng, &range)),
                Some(_) if hit(rng, reset) => None,
                Some(r) => Some(step_u8(rng, r, steps.refs)),
            };
        }
        for (value, range, rate, step) in [
            (
                &mut t.aq_strength,
                tb.aq_strength_for(c.encoder),
                rates.aq_strength,
                steps.aq_strength,
            ),
            (
                &mut t.psy_rd,
                tb.psy_rd_for(c.encoder),
                rates.psy_rd,
                steps.psy_rd,
            ),
        ] {
            let Some(range) = range.filter(|_| hit(rng, rate)) else {
                continue;
            };
            *value = match *value {
                None => Some(round_cent(uniform_f32(rng, &range), &range)),
                Some(_) if hit(rng, reset) => None,
                Some(v) if step.is_finite() && step > 0.0 => {
                    Some(round_cent(v + rng.gen_range(-step..=step), &range))
                }
                Some(v) => Some(v),
            };
        }
        let tunes = tb.tunes_for(c.encoder);
        if hit(rng, rates.tune) && !tunes.is_empty() {
            // The choices are "default" and every tune allowed, less the current one.
            let mut choices: Vec<_> = std::iter::once(None)
                .chain(tunes.into_iter().map(Some))
                .filter(|&choice| choice != t.tune)
                .collect();
            t.tune = choices.swap_remove(rng.gen_range(0..choices.len()));
        }
    }
}

/// True with probability `rate` (never for NaN or rates <= 0, always for rates >= 1).
fn hit(rng: &mut impl Rng, rate: f64) -> bool {
    rng.gen::<f64>() < rate
}

/// `v` moved up or down by 1..=`step` (saturating at the ends of `u8`; 0 = no move).
fn step_u8(rng: &mut impl Rng, v: u8, step: u8) -> u8 {
    if step == 0 {
        return v;
    }
    let delta = rng.gen_range(1..=step);
    if rng.gen() {
        v.saturating_add(delta)
    } else {
        v.saturating_sub(delta)
    }
}

/// `index` moved up or down by 1..=`step` within `0..=last`.
fn step_index(rng: &mut impl Rng, index: usize, last: usize, step: u32) -> usize {
    if step == 0 || last == 0 {
        return index;
    }
    let delta = rng.gen_range(1..=step as usize);
    if rng.gen() {
        index.saturating_add(delta).min(last)
    } else {
        index.saturating_sub(delta)
    }
}

fn uniform(rng: &mut impl Rng, range: &RangeInclusive<u8>) -> u8 {
    if range.start() <= range.end() {
        rng.gen_range(range.clone())
    } else {
        *range.start()
    }
}

fn uniform_f32(rng: &mut impl Rng, range: &RangeInclusive<f32>) -> f32 {
    let (lo, hi) = (*range.start(), *range.end());
    if lo < hi && lo.is_finite() && hi.is_finite() {
        rng.gen_range(lo..=hi)
    } else {
        lo
    }
}

/// `v` rounded to 0.01, kept inside `range`; never -0 (which would print as "-0").
fn round_cent(v: f32, range: &RangeInclusive<f32>) -> f32 {
    clamp_to((v * 100.0).round() / 100.0, range) + 0.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitswarm_core::{
        DeviceClass, EncoderKind, Profile, Rational, Tune, Tuning, VideoInfo, PSY_RD_RANGE,
    };
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn rounding_never_gives_negative_zero() {
        // A step just below 0 at the lower bound rounds to -0.0 before the fix-up.
        let v = round_cent(-0.004, &(0.0..=3.0));
        assert!(v == 0.0 && v.is_sign_positive(), "{v:?}");
        assert_eq!(format!("aqs{v}"), "aqs0");
        assert_eq!(round_cent(1.234, &(0.0..=3.0)), 1.23);
    }

    fn bounds() -> Bounds {
        let source = VideoInfo::new(1920, 1080, Rational::new(30, 1).unwrap()).unwrap();
        Bounds::new(
            source,
            &[
                EncoderKind::X264,
                EncoderKind::SvtAv1,
                EncoderKind::OpenH264,
            ],
            DeviceClass::Desktop,
        )
        .unwrap()
    }

    fn encoder() -> impl Strategy<Value = EncoderKind> {
        prop::sample::select(EncoderKind::ALL.to_vec())
    }

    fn tune() -> impl Strategy<Value = Option<Tune>> {
        prop::option::of(prop::sample::select(Tune::ALL.to_vec()))
    }

    prop_compose! {
        /// Any candidate, mostly outside the bounds.
        fn any_candidate()(
            width in 0u32..5000, height in 0u32..5000, encoder in encoder(),
            crf_or_qp in any::<u8>(), gop in any::<u32>(), complexity in any::<u8>(),
            aq_mode in prop::option::of(any::<u8>()),
            aq_strength in prop::option::of(-10f32..10.0),
            psy_rd in prop::option::of(-10f32..10.0),
            refs in prop::option::of(any::<u8>()), tune in tune(),
        ) -> Candidate {
            Candidate {
                width, height, encoder, crf_or_qp, gop, complexity,
                tuning: Tuning { aq_mode, aq_strength, psy_rd, refs, tune },
            }
        }
    }

    prop_compose! {
        fn any_mutation()(
            rates in prop::collection::vec(-0.5f64..1.5, 11),
            resolution in 0u32..10, crf in any::<u8>(), gop_factor in 0.0f64..100.0,
            complexity in any::<u8>(), aq_mode in any::<u8>(),
            aq_strength in -1f32..10.0, psy_rd in -1f32..10.0, refs in any::<u8>(),
        ) -> Mutation {
            Mutation {
                rates: MutationRates {
                    encoder: rates[0], resolution: rates[1], crf_or_qp: rates[2], gop: rates[3],
                    complexity: rates[4], aq_mode: rates[5], aq_strength: rates[6],
                    psy_rd: rates[7], refs: rates[8], tune: rates[9], tuning_reset: rates[10],
                },
                steps: MutationSteps {
                    resolution, crf_or_qp: crf, gop_factor, complexity, aq_mode,
                    aq_strength, psy_rd, refs,
                },
            }
        }
    }

    fn zero_rates() -> Mutation {
        Mutation {
            rates: MutationRates::all(0.0),
            ..Mutation::default()
        }
    }

    proptest! {
        #[test]
        fn mutants_stay_in_bounds(
            c in any_candidate(), m in any_mutation(), seed in any::<u64>()
        ) {
            let b = bounds();
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut current = c;
            for _ in 0..8 {
                current = m.mutate(&current, &b, &mut rng);
                prop_assert!(b.contains(&current), "{current:?}");
            }
        }

        #[test]
        fn clamp_is_inside_and_idempotent(c in any_candidate()) {
            let b = bounds();
            let once = b.clamp(&c);
            prop_assert!(b.contains(&once), "{once:?}");
            prop_assert_eq!(b.clamp(&once), once);
            // Inside the bounds means a profile the encoders accept.
            let profile = once.to_profile(&Profile::default());
            prop_assert!(profile.validate().is_ok(), "{:?}", profile.validate());
        }

        #[test]
        fn zero_rates_change_nothing(c in any_candidate(), seed in any::<u64>()) {
            let b = bounds();
            let inside = b.clamp(&c);
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            prop_assert_eq!(zero_rates().mutate(&inside, &b, &mut rng), inside);
        }
    }

    #[test]
    fn each_rate_moves_only_its_parameter() {
        let b = bounds();
        let start = Candidate {
            width: 960,
            height: 540,
            encoder: EncoderKind::X264,
            crf_or_qp: 30,
            gop: 60,
            complexity: 5,
            tuning: Tuning::default(),
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let with = |set: fn(&mut MutationRates)| {
            let mut m = zero_rates();
            set(&mut m.rates);
            m
        };
        for _ in 0..50 {
            let c = with(|r| r.crf_or_qp = 1.0).mutate(&start, &b, &mut rng);
            let delta = c.crf_or_qp.abs_diff(30);
            assert!((1..=4).contains(&delta), "{c:?}");
            assert_eq!(Candidate { crf_or_qp: 30, ..c }, start);

            let c = with(|r| r.resolution = 1.0).mutate(&start, &b, &mut rng);
            assert!([432, 720].contains(&c.height), "{c:?}");
            assert_eq!(c.width, b.width_for(c.height));

            let c = with(|r| r.gop = 1.0).mutate(&start, &b, &mut rng);
            assert!((30..=120).contains(&c.gop), "{c:?}");

            let c = with(|r| r.encoder = 1.0).mutate(&start, &b, &mut rng);
            assert_ne!(c.encoder, EncoderKind::X264);

            let c = with(|r| r.psy_rd = 1.0).mutate(&start, &b, &mut rng);
            let psy = c.tuning.psy_rd.unwrap();
            assert!(PSY_RD_RANGE.contains(&psy));
            assert_eq!((psy * 100.0).round() / 100.0, psy);

            let c = with(|r| r.tune = 1.0).mutate(&start, &b, &mut rng);
            assert!(
                c.tuning.tune.is_some(),
                "from the default, another choice is a tune"
            );
        }
        // OpenH264 honours neither aq_strength nor tunes: those knobs never move.
        let openh264 = Candidate {
            encoder: EncoderKind::OpenH264,
            ..start
        };
        let m = with(|r| {
            r.aq_strength = 1.0;
            r.tune = 1.0;
        });
        for _ in 0..20 {
            assert_eq!(m.mutate(&openh264, &b, &mut rng), openh264);
        }
    }

    #[test]
    fn validate_names_the_bad_knob() {
        let mut m = Mutation::default();
        m.validate().unwrap();
        m.rates.gop = 1.5;
        assert_eq!(
            m.validate().unwrap_err().to_string(),
            "invalid mutation rate gop 1.5 (expected a probability in 0..=1)"
        );
        let mut m = Mutation::default();
        m.steps.gop_factor = 0.5;
        assert_eq!(
            m.validate().unwrap_err().to_string(),
            "invalid mutation step gop_factor 0.5 (expected a finite factor >= 1)"
        );
    }

    #[test]
    fn json_defaults_fill_missing_fields() {
        let m: Mutation = serde_json::from_str(r#"{"rates": {"gop": 0.5}}"#).unwrap();
        assert_eq!(m.rates.gop, 0.5);
        assert_eq!(m.rates.crf_or_qp, MutationRates::default().crf_or_qp);
        assert_eq!(m.steps, MutationSteps::default());
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<Mutation>(&json).unwrap(), m);
    }
}
