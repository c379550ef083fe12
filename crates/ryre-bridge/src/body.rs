//! Message bodies: raw bytes as one frame, or `{"frames": [base64, ...]}` for several.

use axum::body::Bytes;
use base64::Engine;
use serde::Deserialize;

use crate::problem::ApiProblem;

/// The JSON form of a multi-frame message.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FramesBody {
    /// The frames, each base64 (standard alphabet, padded).
    pub frames: Vec<String>,
}

/// Whether a `Content-Type` value is JSON (`application/json`, parameters allowed).
pub(crate) fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// Decodes base64 frames; a frame that is not base64 is a 400 naming it.
pub(crate) fn decode_frames(frames: &[String]) -> Result<Vec<Bytes>, ApiProblem> {
    if frames.is_empty() {
        return Err(ApiProblem::bad_request(
            "\"frames\" is empty; a message has at least one frame",
        ));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            b64.decode(f)
                .map(Bytes::from)
                .map_err(|e| ApiProblem::bad_request(format!("frame {i} is not valid base64: {e}")))
        })
        .collect()
}

/// The frames of a POSTed message: JSON bodies must be `{"frames": [...]}`; any other content
/// type is sent as it is, in one frame.
pub(crate) fn frames_from_body(
    content_type: Option<&str>,
    body: Bytes,
) -> Result<Vec<Bytes>, ApiProblem> {
    if !is_json(content_type) {
        return Ok(vec![body]);
    }
    let parsed: FramesBody = serde_json::from_slice(&body).map_err(|e| {
        ApiProblem::bad_request(format!(
            "a JSON body must be {{\"frames\": [\"<base64>\", ...]}}: {e}"
        ))
    })?;
    decode_frames(&parsed.frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_body_is_one_frame() {
        let f = frames_from_body(Some("text/plain"), Bytes::from_static(b"hi")).expect("ok");
        assert_eq!(f, vec![Bytes::from_static(b"hi")]);
        let f = frames_from_body(None, Bytes::new()).expect("ok");
        assert_eq!(f, vec![Bytes::new()]);
    }

    #[test]
    fn json_frames() {
        let body = Bytes::from_static(br#"{"frames":["aGk=","/w=="]}"#);
        let f = frames_from_body(Some("application/json; charset=utf-8"), body).expect("ok");
        assert_eq!(
            f,
            vec![Bytes::from_static(b"hi"), Bytes::from_static(&[0xff])]
        );
    }

    #[test]
    fn bad_json_is_400() {
        for body in [
            &br#"{"frames":["!!"]}"#[..],
            br#"{"frames":[]}"#,
            br#"{"frames":"aGk="}"#,
            br#"{"text":"hi"}"#,
            b"not json",
        ] {
            let e = frames_from_body(Some("application/json"), Bytes::copy_from_slice(body))
                .expect_err("rejected");
            assert_eq!(e.status, 400, "{}", String::from_utf8_lossy(body));
        }
    }
}
