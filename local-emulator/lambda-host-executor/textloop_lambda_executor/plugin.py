"""Entry point LocalStack's executor plugin manager loads for LAMBDA_RUNTIME_EXECUTOR=host."""

from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin


class HostRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "host"

    def load(self, *args, **kwargs):
        # Imported lazily, like LocalStack's docker plugin: plugin discovery must stay cheap.
        from textloop_lambda_executor.executor import HostRuntimeExecutor

        return HostRuntimeExecutor
