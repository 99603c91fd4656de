//! How server functions answer: JSON, read in the browser as text.
//!
//! Resources carry their data into the page as JSON text, and the browser reads it with
//! `serde_json::from_str`. Server functions' built-in JSON reads their answers from bytes
//! (`from_slice`), which compiles a second reader into the WASM for every answer type. Answering
//! with [`JsonText`] reads them as text too, so each type's reader is compiled once.

use leptos::server_fn::codec::Post;
use leptos::server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// JSON, decoded from UTF-8 text.
pub struct JsonTextEncoding;

impl ContentType for JsonTextEncoding {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for JsonTextEncoding {
    const FORMAT_TYPE: Format = Format::Text;
}

impl<T: Serialize> Encodes<T> for JsonTextEncoding {
    type Error = serde_json::Error;

    fn encode(output: &T) -> Result<Bytes, Self::Error> {
        serde_json::to_vec(output).map(Bytes::from)
    }
}

impl<T: DeserializeOwned> Decodes<T> for JsonTextEncoding {
    type Error = serde_json::Error;

    fn decode(bytes: Bytes) -> Result<T, Self::Error> {
        let text = std::str::from_utf8(&bytes).map_err(serde::de::Error::custom)?;
        serde_json::from_str(text)
    }
}

/// A server function's answer as JSON text: `#[server(output = crate::codec::JsonText)]`.
pub type JsonText = Post<JsonTextEncoding>;
