//! A minimal HTTP/1.1 server for test doubles: one thread per connection, keep-alive, bodies by
//! Content-Length or chunked. Enough for the AWS SDK and the Lambda runtime client, no more.
//! And [`get`], one blocking request on hyper's client, for tests that ask a server a question.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use http_body_util::BodyExt as _;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A request as the handler sees it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path with its query.
    pub path: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
}

/// A response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON response.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Response {
            status,
            headers: vec![(
                "content-type".to_owned(),
                "application/x-amz-json-1.1".to_owned(),
            )],
            body: body.to_string().into_bytes(),
        }
    }

    /// An empty response.
    pub fn empty(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
}

/// Serves `handler` on a free loopback port in background threads; returns `host:port`.
pub fn serve<F>(handler: F) -> String
where
    F: Fn(Request) -> Response + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
    let address = listener
        .local_addr()
        .expect("a bound listener has an address")
        .to_string();
    let handler = Arc::new(handler);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let handler = Arc::clone(&handler);
            std::thread::spawn(move || {
                let _ = connection(stream, handler.as_ref());
            });
        }
    });
    address
}

fn connection(stream: TcpStream, handler: &dyn Fn(Request) -> Response) -> std::io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut headers = HashMap::new();
        loop {
            let mut header = String::new();
            reader.read_line(&mut header)?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
            }
        }
        let body = if headers
            .get("transfer-encoding")
            .is_some_and(|v| v.contains("chunked"))
        {
            read_chunked(&mut reader)?
        } else {
            let length = headers
                .get("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0usize);
            let mut body = vec![0; length];
            reader.read_exact(&mut body)?;
            body
        };
        let response = handler(Request {
            method,
            path,
            headers,
            body,
        });
        let mut head = format!(
            "HTTP/1.1 {} X\r\ncontent-length: {}\r\n",
            response.status,
            response.body.len()
        );
        for (name, value) in &response.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        writer.write_all(head.as_bytes())?;
        writer.write_all(&response.body)?;
        writer.flush()?;
    }
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size)?;
        let size =
            usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk)?;
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

/// Sends one `GET path` to `authority` (`host:port`) with `headers` and `Connection: close`;
/// returns the status code and the body (de-chunked, as hyper reads it). Panics, saying why,
/// when the request cannot be made or the answer cannot be read.
pub fn get(authority: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let (status, body) = get_bytes(authority, path, headers);
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// [`get`], with the body as the bytes that came (for images).
pub fn get_bytes(authority: &str, path: &str, headers: &[(&str, &str)]) -> (u16, Vec<u8>) {
    let mut request = http::Request::get(format!("http://{authority}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .header(http::header::CONNECTION, "close")
        .body(String::new())
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    // On a thread of its own, so that a test already inside a tokio runtime can call it too (a
    // runtime cannot block on another).
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap_or_else(|e| panic!("GET {path}: starting a runtime: {e}"));
                runtime.block_on(send(request))
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
    .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

async fn send(request: http::Request<String>) -> Result<(u16, Vec<u8>), String> {
    let client = Client::builder(TokioExecutor::new()).build_http();
    let response = client
        .request(request)
        .await
        .map_err(|e| format!("{e:?}"))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("the body was cut short: {e:?}"))?
        .to_bytes();
    Ok((status, body.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers the first connection with `response`, whatever it asked.
    fn answer_once(response: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
                line.clear();
            }
            (&stream).write_all(response.as_bytes()).unwrap();
        });
        address
    }

    #[test]
    fn a_chunked_body_is_read_without_its_chunk_sizes() {
        let address = answer_once(
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
             5\r\nhello\r\n6;name=value\r\n world\r\n0\r\n\r\n",
        );
        assert_eq!(get(&address, "/", &[]), (200, "hello world".to_owned()));
    }

    #[test]
    fn a_body_by_length_and_the_headers_sent_reach_the_server() {
        let address = serve(|request| Response {
            status: 201,
            headers: Vec::new(),
            body: format!(
                "{} {} {}",
                request.method, request.path, request.headers["authorization"]
            )
            .into_bytes(),
        });
        assert_eq!(
            get(&address, "/a?b=c", &[("Authorization", "Bearer t")]),
            (201, "GET /a?b=c Bearer t".to_owned())
        );
    }

    #[tokio::test]
    async fn it_can_be_called_from_inside_a_runtime() {
        let address = serve(|_| Response::empty(204));
        assert_eq!(get(&address, "/", &[]), (204, String::new()));
    }
}
