"""The `orderhub` command line."""

from __future__ import annotations

import secrets
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from orderhub.core.settings import get_settings

app = typer.Typer(
    help="OrderHub: one order hub for every channel.", no_args_is_help=True, pretty_exceptions_enable=False
)
shop_app = typer.Typer(help="Shops (one storefront on one channel).", no_args_is_help=True)
user_app = typer.Typer(help="Users of the console and the API.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks; results go to docs/benchmarks.md.", no_args_is_help=True)
app.add_typer(shop_app, name="shop")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(bench_app, name="bench")
console = Console()


def _runtime():
    from orderhub.runtime import build_runtime

    return build_runtime(get_settings())


def _fail(exc: Exception) -> typer.Exit:
    console.print(f"[red]error:[/red] {exc}")
    return typer.Exit(code=1)


@app.command()
def migrate() -> None:
    """Bring the database schema to the newest migration."""
    from orderhub.core.db import make_engine
    from orderhub.core.migrate import current_revision, upgrade

    engine = make_engine(get_settings().database_url)
    upgrade(engine)
    console.print(f"schema at {current_revision(engine)} ({engine.dialect.name})")


@app.command()
def doctor() -> None:
    """Check the database, the migrations and the app/database clocks."""
    from orderhub.core.clock import system_clock
    from orderhub.core.db import make_engine
    from orderhub.core.doctor import run_checks

    checks = run_checks(make_engine(get_settings().database_url), system_clock)
    for check in checks:
        mark = "[green]ok[/green]  " if check.ok else "[red]FAIL[/red]"
        console.print(f"{mark} {check.name:<12} {check.message}")
    if not all(check.ok for check in checks):
        raise typer.Exit(code=1)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
) -> None:
    """Serve the API and the console."""
    import uvicorn

    from orderhub.core.logging import configure_logging

    settings = get_settings()
    configure_logging(level=settings.log_level, json=settings.log_json)
    uvicorn.run(
        "orderhub.server:create", factory=True, host=host, port=port, workers=workers, log_config=None, access_log=False
    )


@app.command()
def demo(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    orders: Annotated[int, typer.Option(help="orders to create on first start")] = 300,
) -> None:
    """Create a demo merchant (first start only), print the admin login and serve the console."""
    import uvicorn

    from orderhub.app import create_app
    from orderhub.core.logging import configure_logging
    from orderhub.core.migrate import upgrade
    from orderhub.demo import reset_admin, seed_demo

    settings = get_settings()
    configure_logging(level="WARNING", json=settings.log_json)
    runtime = _runtime()
    upgrade(runtime.engine)
    created = seed_demo(runtime, orders=orders, progress=console)
    password = secrets.token_urlsafe(9)
    reset_admin(runtime, password=password)
    console.rule("OrderHub demo")
    if created:
        console.print(f"created the demo merchant with {created} orders in {settings.database_url}")
    console.print(f"console: [bold]http://{host}:{port}/console[/bold]   API docs: http://{host}:{port}/docs")
    console.print(f"admin login: [bold]admin[/bold] / [bold]{password}[/bold]")
    uvicorn.run(create_app(runtime), host=host, port=port, log_config=None, access_log=False)


@shop_app.command("create")
def shop_create(
    channel: Annotated[str, typer.Option(help="channel name, e.g. taobao, jd, douyin, phone")],
    code: Annotated[str, typer.Option(help="shop code, unique within the channel")],
    name: Annotated[str, typer.Option(help="display name")] = "",
    cross_border: Annotated[bool, typer.Option(help="bonded/cross-border shop (ID card required)")] = False,
) -> None:
    """Create a shop."""
    from orderhub.channels import service as channels
    from orderhub.core.errors import OrderHubError

    try:
        shop = channels.create_shop(
            _runtime().uow(),
            channel=channels.parse_channel(channel),
            code=code,
            name=name or code,
            cross_border=cross_border,
        )
    except OrderHubError as exc:
        raise _fail(exc) from exc
    console.print(f"shop {shop.channel}/{shop.code} created (id {shop.id})")


@shop_app.command("list")
def shop_list() -> None:
    """List shops."""
    from orderhub.channels import service as channels

    table = Table("channel", "code", "name", "cross-border")
    with _runtime().reading() as session:
        for shop in channels.list_shops(session):
            table.add_row(shop.channel, shop.code, shop.name, "yes" if shop.cross_border else "")
    console.print(table)


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Option()],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    role: Annotated[str, typer.Option(help="admin, ops, ops_supervisor, warehouse, finance, viewer")],
) -> None:
    """Create a user."""
    from orderhub.auth import service as auth
    from orderhub.core.errors import OrderHubError

    try:
        user = auth.create_user(_runtime().uow(), username=username, password=password, role=role)
    except OrderHubError as exc:
        raise _fail(exc) from exc
    console.print(f"user {user.username} ({user.role}) created")


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Option(help="username the token acts as")],
    name: Annotated[str, typer.Option(help="what the token is for")] = "cli",
) -> None:
    """Create an API token; the token is printed alone on the last line, once."""
    from orderhub.auth import service as auth
    from orderhub.core.errors import OrderHubError

    try:
        issued = auth.create_token(_runtime().uow(), username=user, name=name)
    except OrderHubError as exc:
        raise _fail(exc) from exc
    console.print(f"token {issued.token.id} ({issued.token.prefix}…) for {user}; it is shown only now:")
    print(issued.secret)  # noqa: T201 - the contract: the token alone on the last line


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(help="token id, as `token list` shows")]) -> None:
    """Revoke an API token."""
    from orderhub.auth import service as auth
    from orderhub.core.errors import OrderHubError

    try:
        token = auth.revoke_token(_runtime().uow(), token_id=token_id)
    except OrderHubError as exc:
        raise _fail(exc) from exc
    console.print(f"token {token.id} ({token.prefix}…) revoked")


@token_app.command("list")
def token_list() -> None:
    """List API tokens (never their secrets)."""
    from orderhub.auth import service as auth

    table = Table("id", "prefix", "user", "name", "created", "revoked")
    with _runtime().reading() as session:
        for token in auth.list_tokens(session):
            table.add_row(
                str(token.id),
                token.prefix,
                token.user.username,
                token.name,
                f"{token.created_at:%Y-%m-%d %H:%M}",
                f"{token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "",
            )
    console.print(table)


@bench_app.command("orders")
def bench_orders(
    create: Annotated[int, typer.Option(help="orders to create through the service layer")] = 100_000,
    rows: Annotated[int, typer.Option(help="orders in the table for the list benchmark")] = 1_000_000,
    queries: Annotated[int, typer.Option(help="list queries per filter")] = 200,
    output: Annotated[str, typer.Option(help="markdown file to append results to")] = "docs/benchmarks.md",
) -> None:
    """Order creation rate and list/filter p95 on the configured database (use an empty one)."""
    from orderhub.benchmarks.orders import run_orders_benchmark

    run_orders_benchmark(get_settings(), create=create, rows=rows, queries=queries, output=output, console=console)
