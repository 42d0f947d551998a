//! The public Stripe vectors through `verify`: the CLI flags map one to one onto them.

use super::*;

#[derive(Deserialize)]
struct Vector {
    name: String,
    kind: String,
    secrets: Vec<String>,
    header: String,
    payload_base64: Option<String>,
    body_base64: Option<String>,
    verification_mode: Option<String>,
    now: i64,
    tolerance: i64,
    expected: String,
    #[serde(default)]
    acceptable_alternatives: Vec<String>,
}

#[derive(Deserialize)]
struct VectorFile {
    vectors: Vec<Vector>,
}

/// Runs one vector through `verify`; `Err` says what differed.
fn run_vector(dir: &tempfile::TempDir, index: usize, vector: &Vector) -> Result<(), String> {
    let encoded = match vector.kind.as_str() {
        "app" => vector.body_base64.as_deref(),
        _ => vector.payload_base64.as_deref(),
    };
    let bytes = STANDARD
        .decode(encoded.ok_or("no body")?)
        .map_err(|err| err.to_string())?;
    let body = write(dir, &format!("vector-{index}"), &bytes);
    let (now, tolerance) = (vector.now.to_string(), vector.tolerance.to_string());
    let mut args = vec![
        "verify".to_string(),
        "--kind".into(),
        vector.kind.clone(),
        "--body-file".into(),
        text(&body).into(),
        "--now".into(),
        now,
        "--tolerance".into(),
        tolerance,
        "--explain".into(),
    ];
    if !vector.header.is_empty() {
        args.push(format!("--header={}", vector.header));
    }
    for secret in &vector.secrets {
        args.push(format!("--secret={secret}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(dir, &args);
    let got = out.first_line();
    let acceptable =
        got == vector.expected || vector.acceptable_alternatives.iter().any(|a| a == got);
    if !acceptable {
        return Err(format!(
            "got {got:?} (exit {}), expected {:?}",
            out.code, vector.expected
        ));
    }
    if out.code != i32::from(got != "ok") {
        return Err(format!("{got} exited {}", out.code));
    }
    if let (true, Some(mode)) = (got == "ok", &vector.verification_mode) {
        if !out.stdout.contains(&format!("verified as: {mode}")) {
            return Err(format!("not verified as {mode}: {}", out.stdout));
        }
    }
    let secrets: Vec<&str> = vector.secrets.iter().map(String::as_str).collect();
    if let Some(secret) = secrets.iter().find(|s| out.all().contains(**s)) {
        return Err(format!("output reveals the secret {secret}"));
    }
    Ok(())
}

#[test]
fn public_vectors_through_verify() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/stripe-vectors-public.json"
    );
    let file: VectorFile =
        serde_json::from_str(&std::fs::read_to_string(path).expect("vectors")).expect("json");
    assert_eq!(file.vectors.len(), 48);
    let dir = tempfile::tempdir().expect("tempdir");
    let failures: Vec<String> = file
        .vectors
        .iter()
        .enumerate()
        .filter_map(|(index, vector)| {
            run_vector(&dir, index, vector)
                .err()
                .map(|why| format!("{}: {why}", vector.name))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
