"""The notifier process: gRPC server with health checking and reflection.

``create_server`` builds and binds (tests use port 0); ``serve`` runs it until
SIGTERM/SIGINT, then reports NOT_SERVING, lets in-flight calls finish within
the grace period and returns (exit code 0).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from neonchat.gcpolicy import freeze_startup_objects
from notifier.client import SERVICE, grpc_request_duration
from notifier.servicer import NotificationServicer
from protos.notification.v1 import notification_pb2 as pb
from protos.notification.v1 import notification_pb2_grpc as pb_grpc

logger = logging.getLogger(__name__)


class MetricsInterceptor(grpc.aio.ServerInterceptor):
    """``grpc_request_duration_seconds{service,method,code}`` on the server side."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = str(handler_call_details.method)
        if handler is None or handler.unary_unary is None or not method.startswith(f"/{SERVICE}/"):
            return handler
        inner = handler.unary_unary
        name = method.rsplit("/", 1)[-1]

        async def timed(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            try:
                return await inner(request, context)  # type: ignore[arg-type]
            finally:
                code = context.code() or grpc.StatusCode.OK
                code_name = code.name if isinstance(code, grpc.StatusCode) else str(code)
                grpc_request_duration.labels(SERVICE, name, code_name).observe(time.perf_counter() - started)

        return grpc.unary_unary_rpc_method_handler(
            timed, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
        )


def create_server(address: str) -> tuple[grpc.aio.Server, HealthServicer, int]:
    server = grpc.aio.server(
        interceptors=[MetricsInterceptor()],
        options=[
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.max_receive_message_length", 8 * 1024 * 1024),
        ],
    )
    pb_grpc.add_NotificationServiceServicer_to_server(NotificationServicer(), server)
    health_servicer = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = (
        pb.DESCRIPTOR.services_by_name["NotificationService"].full_name,
        health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
        reflection.SERVICE_NAME,
    )
    reflection.enable_server_reflection(names, server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"could not bind the notifier to {address}")
    return server, health_servicer, port


async def mark_serving(health_servicer: HealthServicer, serving: bool) -> None:
    status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
    for name in ("", SERVICE):
        await health_servicer.set(name, status)


async def serve(address: str, *, grace: float, on_ready: Callable[[int], None] | None = None) -> None:
    server, health_servicer, port = create_server(address)
    await server.start()
    freeze_startup_objects()
    await mark_serving(health_servicer, True)
    if on_ready is not None:
        on_ready(port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    logger.info("notifier stopping: NOT_SERVING, draining for up to %.1fs", grace)
    await mark_serving(health_servicer, False)
    await server.stop(grace)
    logger.info("notifier stopped")
