//! Network throughput traces: text, one sample per line, `<time_s> <Mbit/s>` separated by a tab
//! or spaces, optionally followed by `<rtt_ms>` and `<loss>` (a fraction in [0, 1)) when the
//! recording has them. Sample `i` is the link's throughput over the interval that ends at
//! `time_s[i]` (the convention of Pensieve's simulator), so the first sample only sets the start.

use crate::{Error, Result};

/// One validated trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    name: String,
    time_s: Vec<f64>,
    mbps: Vec<f64>,
    rtt_ms: Option<Vec<f64>>,
    loss: Option<Vec<f64>>,
}

/// One parsed line of a trace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TraceSample {
    pub time_s: f64,
    pub mbps: f64,
    pub rtt_ms: Option<f64>,
    pub loss: Option<f64>,
}

impl TraceSample {
    /// A throughput-only sample.
    pub fn new(time_s: f64, mbps: f64) -> Self {
        Self {
            time_s,
            mbps,
            rtt_ms: None,
            loss: None,
        }
    }
}

fn parse_number(name: &str, line: usize, what: &str, text: &str) -> Result<f64> {
    let value: f64 = text.parse().map_err(|_| {
        Error::trace(
            name,
            Some(line),
            format!("{what} {text:?} is not a number (expected `<time_s> <Mbit/s> [<rtt_ms> [<loss>]]`)"),
        )
    })?;
    if !value.is_finite() {
        return Err(Error::trace(
            name,
            Some(line),
            format!("{what} {text:?} is not a finite number"),
        ));
    }
    Ok(value)
}

impl Trace {
    /// Parses the text of a trace file; `name` is used in error messages and reports.
    /// Blank lines and lines starting with `#` are skipped.
    pub fn parse(name: &str, text: &str) -> Result<Trace> {
        let mut samples = Vec::new();
        let mut columns = None;
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let content = raw.trim();
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = content.split_whitespace().collect();
            if !(2..=4).contains(&fields.len()) {
                return Err(Error::trace(
                    name,
                    Some(line),
                    format!(
                        "{} fields (expected 2 to 4: `<time_s> <Mbit/s> [<rtt_ms> [<loss>]]`)",
                        fields.len()
                    ),
                ));
            }
            match columns {
                None => columns = Some(fields.len()),
                Some(n) if n != fields.len() => {
                    return Err(Error::trace(
                        name,
                        Some(line),
                        format!("{} fields, but the first sample has {n} (every line needs the same columns)", fields.len()),
                    ))
                }
                Some(_) => {}
            }
            let mut sample = TraceSample::new(
                parse_number(name, line, "time", fields[0])?,
                parse_number(name, line, "throughput", fields[1])?,
            );
            if let Some(text) = fields.get(2) {
                sample.rtt_ms = Some(parse_number(name, line, "rtt", text)?);
            }
            if let Some(text) = fields.get(3) {
                sample.loss = Some(parse_number(name, line, "loss", text)?);
            }
            Trace::check_sample(name, Some(line), samples.last(), &sample)?;
            samples.push(sample);
        }
        Trace::build(name, samples)
    }

    /// A trace from samples (hand-made traces in tests and tools); validated like a parsed one.
    pub fn new(name: &str, samples: &[TraceSample]) -> Result<Trace> {
        for (i, s) in samples.iter().enumerate() {
            Trace::check_sample(name, None, i.checked_sub(1).map(|p| &samples[p]), s)?;
        }
        Trace::build(name, samples.to_vec())
    }

    fn check_sample(
        name: &str,
        line: Option<usize>,
        previous: Option<&TraceSample>,
        s: &TraceSample,
    ) -> Result<()> {
        let fail = |msg: String| Err(Error::trace(name, line, msg));
        if !s.time_s.is_finite() || s.time_s < 0.0 {
            return fail(format!("negative or non-finite time {} s", s.time_s));
        }
        if !s.mbps.is_finite() || s.mbps < 0.0 {
            return fail(format!(
                "negative or non-finite throughput {} Mbit/s",
                s.mbps
            ));
        }
        if let Some(rtt) = s.rtt_ms {
            if !rtt.is_finite() || rtt < 0.0 {
                return fail(format!("negative or non-finite rtt {rtt} ms"));
            }
        }
        if let Some(loss) = s.loss {
            if !(0.0..1.0).contains(&loss) {
                return fail(format!(
                    "loss {loss} out of range (expected a fraction in [0, 1))"
                ));
            }
        }
        if let Some(p) = previous {
            if s.time_s <= p.time_s {
                return fail(format!(
                    "time {} s is not after the previous sample's {} s (times must increase)",
                    s.time_s, p.time_s
                ));
            }
            if s.rtt_ms.is_some() != p.rtt_ms.is_some() || s.loss.is_some() != p.loss.is_some() {
                return fail("every sample needs the same columns".into());
            }
        }
        Ok(())
    }

    fn build(name: &str, samples: Vec<TraceSample>) -> Result<Trace> {
        if samples.is_empty() {
            return Err(Error::trace(
                name,
                None,
                "empty (expected lines `<time_s> <Mbit/s>`)".into(),
            ));
        }
        if samples.len() < 2 {
            return Err(Error::trace(
                name,
                None,
                "has 1 sample; a trace needs at least 2 (throughput applies to the interval between timestamps)".into(),
            ));
        }
        if samples[1..].iter().all(|s| s.mbps == 0.0) {
            return Err(Error::trace(
                name,
                None,
                "throughput is 0 in every interval: no download could finish".into(),
            ));
        }
        let with_rtt = samples[0].rtt_ms.is_some();
        let with_loss = samples[0].loss.is_some();
        Ok(Trace {
            name: name.to_owned(),
            time_s: samples.iter().map(|s| s.time_s).collect(),
            mbps: samples.iter().map(|s| s.mbps).collect(),
            rtt_ms: with_rtt.then(|| samples.iter().filter_map(|s| s.rtt_ms).collect()),
            loss: with_loss.then(|| samples.iter().filter_map(|s| s.loss).collect()),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of samples (at least 2).
    pub fn len(&self) -> usize {
        self.time_s.len()
    }

    /// Always false: a valid trace has at least two samples.
    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn time_s(&self, i: usize) -> f64 {
        self.time_s[i]
    }

    pub fn mbps(&self, i: usize) -> f64 {
        self.mbps[i]
    }

    /// The recorded round-trip time of sample `i`, when the trace has that column.
    pub fn rtt_ms(&self, i: usize) -> Option<f64> {
        self.rtt_ms.as_ref().map(|v| v[i])
    }

    /// The recorded loss fraction of sample `i`, when the trace has that column.
    pub fn loss(&self, i: usize) -> Option<f64> {
        self.loss.as_ref().map(|v| v[i])
    }

    /// Length of the recording in seconds.
    pub fn duration_s(&self) -> f64 {
        self.time_s[self.len() - 1] - self.time_s[0]
    }

    /// Time-weighted mean throughput over the recording, Mbit/s.
    pub fn mean_mbps(&self) -> f64 {
        let bits: f64 = (1..self.len())
            .map(|i| self.mbps[i] * (self.time_s[i] - self.time_s[i - 1]))
            .sum();
        bits / self.duration_s()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tabs_spaces_comments_and_link_columns() {
        let t = Trace::parse("t", "# comment\n0.0\t1.5\n1.0  2.5\n\n2.5\t0\n").unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!((t.time_s(2), t.mbps(1)), (2.5, 2.5));
        assert_eq!(t.rtt_ms(0), None);
        assert!((t.mean_mbps() - (2.5 * 1.0 + 0.0) / 2.5).abs() < 1e-12);
        let l = Trace::parse("l", "0 1 40 0.01\n1 2 60 0\n").unwrap();
        assert_eq!((l.rtt_ms(1), l.loss(0)), (Some(60.0), Some(0.01)));
    }

    #[test]
    fn bad_files_give_clear_errors() {
        let cases = [
            ("", "trace e: empty (expected lines `<time_s> <Mbit/s>`)"),
            ("0 1\n", "trace e: has 1 sample; a trace needs at least 2 (throughput applies to the interval between timestamps)"),
            ("0 1\n1 x\n", "trace e: line 2: throughput \"x\" is not a number (expected `<time_s> <Mbit/s> [<rtt_ms> [<loss>]]`)"),
            ("0 1\n1 -2\n", "trace e: line 2: negative or non-finite throughput -2 Mbit/s"),
            ("-1 1\n1 2\n", "trace e: line 1: negative or non-finite time -1 s"),
            ("0 1\n2 1\n1 1\n", "trace e: line 3: time 1 s is not after the previous sample's 2 s (times must increase)"),
            ("0 1\n1 0\n2 0\n", "trace e: throughput is 0 in every interval: no download could finish"),
            ("0 1\n1 2 3\n", "trace e: line 2: 3 fields, but the first sample has 2 (every line needs the same columns)"),
            ("0 1 80 1.5\n1 2 80 0\n", "trace e: line 1: loss 1.5 out of range (expected a fraction in [0, 1))"),
            ("0 inf\n1 2\n", "trace e: line 1: throughput \"inf\" is not a finite number"),
            ("0 1 2 3 4\n", "trace e: line 1: 5 fields (expected 2 to 4: `<time_s> <Mbit/s> [<rtt_ms> [<loss>]]`)"),
        ];
        for (text, expected) in cases {
            let err = Trace::parse("e", text).unwrap_err();
            assert_eq!(err.to_string(), expected, "for {text:?}");
        }
    }

    #[test]
    fn hand_made_traces_are_validated_too() {
        let err = Trace::new(
            "h",
            &[TraceSample::new(1.0, 1.0), TraceSample::new(1.0, 1.0)],
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "trace h: time 1 s is not after the previous sample's 1 s (times must increase)"
        );
    }
}
