"""`relay serve|sync|status|secrets`: the public tracking relay and the desktop's sync from it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from engine.cli.common import _when, app, fail, open_db, out

relay_app = typer.Typer(no_args_is_help=True, help="The public tracking relay (docs/relay.md): serve it on a "
                                                   "public host, sync its events into the desktop's database.")
app.add_typer(relay_app, name="relay")


@relay_app.command("serve")
def relay_serve(
    data: Path = typer.Option(Path("relay-data"), "--data", help="Folder of the relay's event log and secrets."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (127.0.0.1 behind a proxy)."),
    port: int = typer.Option(8026, "--port"),
    tracking_secret: Optional[Path] = typer.Option(None, "--tracking-secret",
                                                   help="Copy of the desktop's tracking.secret "
                                                        "(default: DATA/tracking.secret)."),
    sync_secret: Optional[Path] = typer.Option(None, "--sync-secret",
                                               help="Copy of the desktop's relay-sync.secret "
                                                    "(default: DATA/relay-sync.secret)."),
    tls_cert: Optional[Path] = typer.Option(None, "--tls-cert", help="PEM certificate chain: serve HTTPS itself."),
    tls_key: Optional[Path] = typer.Option(None, "--tls-key", help="PEM private key of --tls-cert."),
    behind_proxy: bool = typer.Option(False, "--behind-proxy",
                                      help="Take the reader's address from X-Forwarded-For (only behind your proxy)."),
    engine_db: Optional[str] = typer.Option(None, "--engine-db", envvar="MAILBRANCH_RELAY_ENGINE_DB",
                                            help="Scale-out: record straight into this PostgreSQL database."),
    max_connections: int = typer.Option(1000, "--max-connections"),
    flush_ms: int = typer.Option(50, "--flush-ms", min=1, max=60_000,
                                 help="Commit the events answered at least this often (ms); a crash of the "
                                      "relay may lose the last interval's events, a clean stop none."),
) -> None:
    """Serve the tracking routes (pixel, click, unsubscribe) and the sync routes on a public host."""
    import asyncio
    import signal

    from engine.delivery.http_guard import ServerLimits
    from engine.delivery.tracking_tokens import TrackingTokens
    from engine.observe.logs import configure
    from engine.relay.app import RelayServer, RelaySink, build_relay_app, tls_context
    from engine.relay.secrets import SYNC_FILE, TRACKING_FILE, RelaySecretError, read_copied_secret
    from engine.relay.store import RelayStore
    from engine.tracking.machine import RulesError, load_rules

    if (tls_cert is None) != (tls_key is None):
        fail("give both --tls-cert and --tls-key, or neither (then put a proxy with HTTPS in front)")
    try:
        tokens = TrackingTokens(read_copied_secret(tracking_secret or data / TRACKING_FILE, "tracking secret"))
        rules = load_rules()
        tls = tls_context(tls_cert, tls_key) if tls_cert and tls_key else None
    except (RelaySecretError, RulesError) as exc:
        fail(str(exc))
    except (OSError, ValueError) as exc:
        fail(f"cannot use the TLS certificate ({exc})")
    configure()

    async def main() -> None:
        if engine_db:
            from engine.relay.direct import direct_sink

            db, sink = direct_sink(engine_db)
            app_ = build_relay_app(tokens, sink, rules=rules, trust_forwarded=behind_proxy)
            store = None
        else:
            try:
                secret = read_copied_secret(sync_secret or data / SYNC_FILE, "sync secret")
            except RelaySecretError as exc:
                fail(str(exc))
            store = RelayStore(data / "relay.db", flush_ms=flush_ms)
            app_ = build_relay_app(tokens, RelaySink(store), store=store, sync_secret=secret, rules=rules,
                                   trust_forwarded=behind_proxy)
        server = RelayServer(app_, host, port, ServerLimits(max_connections=max_connections), tls)
        await server.start()
        stopping = asyncio.Event()
        # systemd and docker stop with SIGTERM: stop as for Ctrl-C, committing every buffered event.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
        print(f"MAILBRANCH-RELAY {server.port}", flush=True)
        try:
            await stopping.wait()
        finally:
            await server.stop()
            if store is not None:
                store.close()

    try:
        asyncio.run(main())
    except OSError as exc:
        fail(f"the relay cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port")
    except KeyboardInterrupt:
        pass


def _client(url: str, ca_file: Optional[str]):
    from engine.relay.secrets import installation_sync_secret
    from engine.relay.sync import RelayClient, RelayError

    try:
        return RelayClient(url, installation_sync_secret().decode(), ca_file=ca_file)
    except RelayError as exc:
        fail(str(exc))


@relay_app.command("sync")
def relay_sync(
    db_path: str = typer.Option(..., "--db", help="The campaign database (SQLite file or PostgreSQL URL)."),
    url: str = typer.Option(..., "--relay", envvar="MAILBRANCH_RELAY_URL", help="https://track.example.com"),
    ca_file: Optional[str] = typer.Option(None, "--relay-ca", help="CA bundle for a relay with its own certificate."),
    follow: bool = typer.Option(False, "--follow", help="Keep pulling every --every seconds until stopped."),
    every: float = typer.Option(5.0, "--every"),
) -> None:
    """Pull the relay's new events into the database (once, or --follow)."""
    import asyncio

    from engine.relay.sync import RelaySync

    db = open_db(db_path)
    sync = RelaySync(db, _client(url, ca_file))

    async def main() -> None:
        try:
            if follow:
                await sync.run(every)
            else:
                await sync.sync_once()
        finally:
            await sync.close()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    state = sync.state
    if state.error:
        fail(state.error, 1)
    out.print(f"Pulled {state.pulled} event{'s' if state.pulled != 1 else ''} from {state.url}; "
              f"{state.waiting or 0} still waiting at the relay.", highlight=False)


@relay_app.command("status")
def relay_status(
    url: str = typer.Option(..., "--relay", envvar="MAILBRANCH_RELAY_URL"),
    ca_file: Optional[str] = typer.Option(None, "--relay-ca"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Is the relay reachable, when did this installation last sync, how many events wait there."""
    import asyncio

    from engine.relay.sync import RelayError

    client = _client(url, ca_file)

    async def main() -> dict:
        try:
            return await client.status()
        finally:
            await client.close()

    try:
        status = asyncio.run(main())
    except RelayError as exc:
        if as_json:
            print(json.dumps({"reachable": False, "error": str(exc)}))
            raise typer.Exit(1) from None
        fail(str(exc), 1)
    if as_json:
        print(json.dumps({"reachable": True, **status}))
        return
    out.print(f"Relay {client.url} is reachable. Last sync: {_when(status.get('pulled_at'))}; "
              f"events waiting: {status['waiting']}.", highlight=False)


@relay_app.command("secrets")
def relay_secrets() -> None:
    """Where this installation's two secrets are, to copy to the relay (docs/relay.md)."""
    from engine.relay.secrets import installation_files

    tracking, sync = installation_files()
    out.print(f"Tracking secret: {tracking}\nSync secret:     {sync}\n"
              "Copy both into the relay's --data folder (scp, owner-only), e.g.\n"
              f"  scp {tracking} {sync} relay-host:/var/lib/mailbranch-relay/", highlight=False)
