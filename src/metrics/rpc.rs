//! A tower layer in front of the gRPC services that times every RPC and counts the ones
//! shed by the concurrency limit.
//!
//! It sits outside the load-shedding layer, so a shed request reaches it as an error (tonic
//! turns that error into RESOURCE_EXHAUSTED). It never changes a request or a response.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Instant;

use metrics::{counter, histogram};
use prost::Message;
use tonic::codegen::http;

use super::names;

/// Wraps a service in [`RpcMetrics`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RpcMetricsLayer;

/// Times each request until its response headers, labelled by RPC.
#[derive(Debug, Clone)]
pub struct RpcMetrics<S> {
    inner: S,
}

impl<S> tower::Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;

    fn layer(&self, inner: S) -> RpcMetrics<S> {
        RpcMetrics { inner }
    }
}

impl<S, RequestBody, ResponseBody> tower::Service<http::Request<RequestBody>> for RpcMetrics<S>
where
    S: tower::Service<http::Request<RequestBody>, Response = http::Response<ResponseBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResponseBody: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<RequestBody>) -> Self::Future {
        let path = request.uri().path().to_owned();
        let started = Instant::now();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let result = answer.await;
            match &result {
                Ok(_) => {
                    histogram!(names::RPC_SECONDS, "rpc" => rpc_label(&path))
                        .record(started.elapsed());
                }
                Err(_) => counter!(names::RPC_SHED, "rpc" => rpc_label(&path)).increment(1),
            }
            result
        })
    }
}

/// The RPC's label: its path without the leading slash if it names a method this server
/// serves, else `unknown`, so that made-up paths cannot grow the number of series.
fn rpc_label(path: &str) -> String {
    static METHODS: OnceLock<BTreeSet<String>> = OnceLock::new();
    let methods = METHODS.get_or_init(served_methods);
    let name = path.trim_start_matches('/');
    if methods.contains(name) {
        name.to_owned()
    } else {
        "unknown".to_owned()
    }
}

/// `package.Service/Method` of every method of the wire API, health and reflection.
fn served_methods() -> BTreeSet<String> {
    let mut methods: BTreeSet<String> = [
        "grpc.health.v1.Health/Check",
        "grpc.health.v1.Health/Watch",
        "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    // The descriptor set is generated at build time from proto/; if it ever failed to
    // decode, every RPC would be labelled `unknown`, which the metrics test would catch.
    let files = prost_types::FileDescriptorSet::decode(crate::proto::FILE_DESCRIPTOR_SET)
        .map(|set| set.file)
        .unwrap_or_default();
    for file in files {
        let package = file.package();
        for service in &file.service {
            for method in &service.method {
                methods.insert(format!("{package}.{}/{}", service.name(), method.name()));
            }
        }
    }
    methods
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_methods_are_labelled_and_made_up_paths_are_not() {
        assert_eq!(
            rpc_label("/dunghan.v1.QueryService/GetStats"),
            "dunghan.v1.QueryService/GetStats"
        );
        assert_eq!(
            rpc_label("/dunghan.v1.IngestService/IngestBatch"),
            "dunghan.v1.IngestService/IngestBatch"
        );
        assert_eq!(
            rpc_label("/grpc.health.v1.Health/Check"),
            "grpc.health.v1.Health/Check"
        );
        assert_eq!(rpc_label("/dunghan.v1.QueryService/Nothing"), "unknown");
        assert_eq!(rpc_label("/"), "unknown");
    }
}
