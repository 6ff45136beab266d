"""REST handlers for the deployment: what is deployed, deploy/roll back, history."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from jupyter_mlops.serverext.handlers.base import STRING, MLOpsHandler


class DeploymentHandler(MLOpsHandler):
    body_schema = {"model_id": STRING}

    @web.authenticated
    @authorized
    def get(self) -> None:
        """The deployed model (or null): sha1, when, auto or manual."""
        self.reply({"deployment": self.ctx.store.current_deployment()})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Deploy any stored model by hand (a rollback); answers once it is served."""
        body = self.json_body({"model_id": str})
        deployment = self.ctx.hub.deploy(body["model_id"])
        await self.ctx.server.settle()
        self.reply({**deployment, "serving": self.ctx.server.describe()}, status=201)


class DeploymentHistoryHandler(MLOpsHandler):
    @web.authenticated
    @authorized
    def get(self) -> None:
        """Every deployment, newest first."""
        self.reply({"history": self.ctx.store.deployment_history()})
