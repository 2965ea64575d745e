//! docs/PROTOCOL.md says what the code does: every JSON example decodes to exactly the message
//! it shows, every message type has an example, and the hex dump is the encoder's output.

use std::collections::BTreeSet;
use std::path::Path;

use bitswarm_proto::{
    ChunkAttempt, Control, DataKind, DataPart, JobId, HEADER_LEN, MAX_CONTROL_SIZE,
    MAX_PART_PAYLOAD,
};

fn protocol_md() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/PROTOCOL.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The bodies of the fenced code blocks opened with "```{tag}".
fn blocks(doc: &str, tag: &str) -> Vec<String> {
    let fence = format!("```{tag}");
    let mut found = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        match current.as_mut() {
            None if line.trim_end() == fence => current = Some(String::new()),
            None => {}
            Some(body) if line.trim_end() == "```" => {
                found.push(std::mem::take(body));
                current = None;
            }
            Some(body) => {
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    assert!(current.is_none(), "unterminated ```{tag} block");
    found
}

#[test]
fn json_examples_decode_exactly_and_cover_every_type() {
    let doc = protocol_md();
    let examples = blocks(&doc, "json");
    assert!(examples.len() >= Control::TYPES.len());
    let mut seen = BTreeSet::new();
    for example in &examples {
        let message = Control::decode(example.as_bytes())
            .unwrap_or_else(|e| panic!("example does not decode: {e}\n{example}"));
        // Same fields and values as the encoder writes: no typo'd or ignored field in the doc.
        let shown: serde_json::Value = serde_json::from_str(example).unwrap();
        let encoded: serde_json::Value = serde_json::from_slice(&message.encode()).unwrap();
        assert_eq!(shown, encoded, "{example}");
        seen.insert(message.type_name());
    }
    assert_eq!(seen, Control::TYPES.into_iter().collect());
}

#[test]
fn hex_dump_is_the_encoders_output() {
    let part = DataPart::new(
        DataKind::Encoded,
        ChunkAttempt {
            job: JobId::new("job-42").unwrap(),
            chunk: 7,
            attempt: 1,
        },
        0,
        true,
        MAX_PART_PAYLOAD,
        b"hello".to_vec(),
    )
    .unwrap();
    let dump: String = part
        .encode()
        .chunks(16)
        .enumerate()
        .map(|(i, row)| {
            let bytes: Vec<String> = row.iter().map(|b| format!("{b:02x}")).collect();
            format!("{:04x}: {}\n", i * 16, bytes.join(" "))
        })
        .collect();
    assert_eq!(blocks(&protocol_md(), "hex"), vec![dump]);
}

#[test]
fn documented_sizes_are_the_constants() {
    let doc = protocol_md();
    assert_eq!(
        (HEADER_LEN, MAX_PART_PAYLOAD, MAX_CONTROL_SIZE),
        (96, 262_144, 65_536)
    );
    for figure in [
        "a fixed 96-byte header",
        "`MAX_PART_PAYLOAD` = 262144 bytes",
        "A part is at most 262240 bytes",
        "larger than **65536 bytes**",
    ] {
        assert!(doc.contains(figure), "PROTOCOL.md lacks {figure:?}");
    }
}
