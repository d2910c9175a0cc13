"""The app's lifespan starts the services and the pollers the settings ask for, and stops
them at the end; services someone else started stay running after a server on them ends."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmfeed.app import Services
from store.migrate import upgrade
from tests.conftest import test_settings as settings_for
from tests.live_helpers import running_server
from tests.records_helpers import new_org

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Api


async def test_a_server_starts_and_stops_its_own_services(tmp_path: Path) -> None:
    services = Services.create(settings_for(f"sqlite+aiosqlite:///{tmp_path / 'own.db'}"))
    await upgrade(services.engine)
    pollers = (services.reminders, services.mail, services.transfers)
    async with running_server(services):
        assert services.hub.running
        assert all(p.running for p in pollers)
    assert not services.hub.running
    assert not any(p.running for p in pollers)


async def test_a_server_on_started_services_leaves_them_running(api: Api) -> None:
    services = api.services
    assert services.hub.running  # started by the test session, which stops it at its end
    async with running_server(services):
        assert services.transfers.running  # the settings ask for it: this server runs it
    assert services.hub.running
    assert not services.transfers.running
    org = await new_org(api)  # the shared services still serve
    await org.record(org.admin, "ACCOUNT", "Still served")
    assert await org.total(org.admin) == 1
