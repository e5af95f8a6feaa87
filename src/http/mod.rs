//! HTTP/1.x codec primitives: head parsing, body framing, chunked transfer coding,
//! status reason phrases and head encoding. Functions over `bytes`, no I/O; the one piece of
//! state is the per-thread block that encoded heads are cut from (`block`).

pub mod block;
pub mod chunked;
pub mod decoder;
pub mod encode;
pub mod encoder;
pub mod framing;
pub mod head;
pub mod limits;
pub mod status;

pub use chunked::{CHUNK_END, ChunkedDecoder, LAST_CHUNK, encode_chunk_size};
pub use encode::{
    CONTINUE_100, OutFraming, write_error_response, write_request_head, write_response_head,
};
pub use framing::{
    BodyFraming, expects_continue, is_keep_alive, request_framing, response_framing,
};
pub use head::{
    Headers, ParseError, Parsed, RequestHead, ResponseHead, Version, parse_request_head,
    parse_response_head,
};
pub use status::reason_phrase;
