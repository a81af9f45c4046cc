"""The `orderhub` command line."""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path
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
channels_app = typer.Typer(help="Channel ingestion: backfills and health.", no_args_is_help=True)
deadletters_app = typer.Typer(help="Dead letters (补单): list, show, replay, discard.", no_args_is_help=True)
simulate_app = typer.Typer(help="Local simulators of the platforms, with fault injection.", no_args_is_help=True)
app.add_typer(channels_app, name="channels")
app.add_typer(deadletters_app, name="deadletters")
app.add_typer(simulate_app, name="simulate")
inventory_app = typer.Typer(help="Stock: receipts and the ledger check.", no_args_is_help=True)
app.add_typer(inventory_app, name="inventory")
routing_app = typer.Typer(help="Routing (分单): check a routing tables file, dry-run an order.", no_args_is_help=True)
app.add_typer(routing_app, name="routing")
statements_app = typer.Typer(help="Payment, bank, settlement and POS statements (对账单).", no_args_is_help=True)
app.add_typer(statements_app, name="statements")
finance_app = typer.Typer(help="Finance reports and exports (Excel, PDF).", no_args_is_help=True)
app.add_typer(finance_app, name="finance")
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
    if workers > 1 and settings.lookup_limits_storage.startswith("memory://"):
        console.print(f"[yellow]note[/yellow]: the lookup's limits count per process ({workers} here); set "
                      "ORDERHUB_LOOKUP_LIMITS_STORAGE=redis://… to share them")
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
    from orderhub.demo import lookup_example, reset_admin, seed_demo, start_live_channels

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
    example = lookup_example(runtime)
    console.print(f"customers' order lookup: [bold]http://{host}:{port}/lookup[/bold]"
                  + (f" (try {example[0]} with phone {example[1]})" if example else ""))
    live = start_live_channels(runtime, push_to=f"http://{host}:{port}")
    console.print(f"platform simulators at {live.simulator.base_url}: new orders are pushed and pulled as you watch")
    try:
        uvicorn.run(create_app(runtime), host=host, port=port, log_config=None, access_log=False)
    finally:
        live.stop()


@app.command("import")
def import_file(
    file: Annotated[
        Path | None, typer.Argument(help="JSON export (array, platform envelope, JSON Lines), CSV or XLSX")
    ] = None,
    channel: Annotated[str, typer.Option(help="the shop's channel (manual for spreadsheets)")] = "",
    shop: Annotated[str, typer.Option(help="shop code")] = "",
    template: Annotated[
        Path | None, typer.Option(help="write the offline order template (.csv or .xlsx) to this path, and stop")
    ] = None,
) -> None:
    """Import orders from a file. Exit 0: read to the end (row errors go to <file>.errors.csv);
    1: not readable, nothing changed; 3: it broke off part-way, the orders before the break were imported."""
    from rich.markup import escape
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from orderhub.channels import importer
    from orderhub.core.errors import OrderHubError

    if template is not None:
        try:
            importer.write_template(template)
        except OrderHubError as exc:
            raise _fail(exc) from exc
        console.print(f"模板已写入 / template written: {escape(str(template))}")
        return
    if file is None or not channel or not shop:
        raise typer.BadParameter("give FILE, --channel and --shop (or --template PATH)")
    runtime = _runtime()
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task(f"导入 importing {escape(file.name)}", total=None)
            report = importer.import_file(
                runtime,
                file,
                channel=channel,
                shop=shop,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    except OrderHubError as exc:
        raise _fail(exc) from exc
    console.print(f"{escape(f'{file} — {report.format}')}, {report.orders} 个订单 / orders, {report.seconds:.1f} s")
    if report.ignored_columns:
        console.print(f"[yellow]已忽略的列 / ignored columns:[/yellow] {escape(', '.join(report.ignored_columns))}")
    if report.complete and report.orders == 0 and report.row_errors == 0:
        console.print("[yellow]文件中没有订单 / the file holds no orders[/yellow]")
    table = Table("结果 / outcome", "数量 / count")
    for label, number in report.summary():
        table.add_row(label, str(number))
    console.print(table)
    for error in report.samples:
        rows = ",".join(map(str, error.rows))
        console.print(f"  [red]{error.code}[/red] {rows} {escape(error.order_id)} {escape(error.message)}")
    if report.errors_path is not None:
        console.print(f"错误明细 / error report: {escape(str(report.errors_path))}", soft_wrap=True)
    if report.stopped is not None:
        console.print(f"[red]读取中断 / reading stopped:[/red] {escape(report.stopped.message)}")
        raise typer.Exit(code=3 if report.orders else 1)


@shop_app.command("create")
def shop_create(
    channel: Annotated[str, typer.Option(help="channel name, e.g. taobao, jd, douyin, phone")],
    code: Annotated[str, typer.Option(help="shop code, unique within the channel")],
    name: Annotated[str, typer.Option(help="display name")] = "",
    cross_border: Annotated[bool, typer.Option(help="bonded/cross-border shop (ID card required)")] = False,
    app_key: Annotated[str, typer.Option(help="platform app key")] = "",
    app_secret: Annotated[str, typer.Option(help="platform app secret (stored encrypted)")] = "",
    access_token: Annotated[str, typer.Option(help="platform session/access token")] = "",
    api_base_url: Annotated[str, typer.Option(help="platform API base URL (a simulator's, in tests)")] = "",
) -> None:
    """Create a shop, with its platform credentials when given."""
    from orderhub.channels import service as channels
    from orderhub.core.errors import OrderHubError

    runtime = _runtime()
    try:
        shop = channels.create_shop(
            runtime.uow(),
            channel=channels.parse_channel(channel),
            code=code,
            name=name or code,
            cross_border=cross_border,
        )
        if app_key or app_secret:
            channels.set_credentials(
                runtime.uow(),
                channel=channel,
                code=code,
                box=runtime.secrets,
                app_key=app_key,
                app_secret=app_secret,
                access_token=access_token,
                api_base_url=api_base_url or None,
            )
    except OrderHubError as exc:
        raise _fail(exc) from exc
    console.print(f"shop {shop.channel}/{shop.code} created (id {shop.id})")


@shop_app.command("credentials")
def shop_credentials(
    channel: Annotated[str, typer.Option(help="channel name")],
    code: Annotated[str, typer.Option(help="shop code")],
    app_key: Annotated[str, typer.Option(help="platform app key")],
    app_secret: Annotated[str, typer.Option(prompt=True, hide_input=True, help="platform app secret")],
    access_token: Annotated[str, typer.Option(help="platform session/access token")] = "",
    api_base_url: Annotated[str | None, typer.Option(help="platform API base URL")] = None,
) -> None:
    """Set or rotate a shop's credentials; running servers and workers use them from the next call."""
    from orderhub.channels import service as channels
    from orderhub.core.errors import OrderHubError

    runtime = _runtime()
    try:
        shop = channels.set_credentials(
            runtime.uow(),
            channel=channel,
            code=code,
            box=runtime.secrets,
            app_key=app_key,
            app_secret=app_secret,
            access_token=access_token,
            api_base_url=api_base_url,
        )
    except OrderHubError as exc:
        raise _fail(exc) from exc
    console.print(f"credentials of {shop.channel}/{shop.code} stored (encrypted), effective now")


@shop_app.command("schedule")
def shop_schedule(
    channel: Annotated[str, typer.Option(help="channel name")],
    code: Annotated[str, typer.Option(help="shop code")],
    pull: Annotated[bool, typer.Option("--pull/--no-pull", help="pull orders on a schedule")] = True,
    promotion: Annotated[bool, typer.Option("--promotion/--no-promotion", help="every 5 min instead of 15")] = False,
) -> None:
    """Switch a shop's scheduled pulls and promotion mode (taken by running workers at their next tick)."""
    from orderhub.channels import service as channels
    from orderhub.core.errors import OrderHubError

    try:
        shop = channels.set_schedule(_runtime().uow(), channel=channel, code=code, pull=pull, promotion_mode=promotion)
    except OrderHubError as exc:
        raise _fail(exc) from exc
    every = "5 min" if shop.promotion_mode else "15 min"
    console.print(f"{shop.channel}/{shop.code}: pulls {'on, every ' + every if shop.pull_enabled else 'off'}")


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
    role: Annotated[str, typer.Option(help="admin, ops, ops_supervisor, warehouse, finance, viewer, 3pl")],
    warehouse: Annotated[str | None, typer.Option(help="hold the user to this warehouse (required for 3pl)")] = None,
) -> None:
    """Create a user."""
    from orderhub.auth import service as auth
    from orderhub.core.errors import OrderHubError

    try:
        user = auth.create_user(_runtime().uow(), username=username, password=password, role=role,
                                warehouse=warehouse)
    except OrderHubError as exc:
        raise _fail(exc) from exc
    scope = f", warehouse {user.warehouse_code}" if user.warehouse_code else ""
    console.print(f"user {user.username} ({user.role}{scope}) created")


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


@app.command()
def worker() -> None:
    """Run background work: channel pulls, fetching notified orders, write-back, health checks."""
    from orderhub.core.jobs import run_scheduler
    from orderhub.core.logging import configure_logging
    from orderhub.worker import worker_jobs

    settings = get_settings()
    configure_logging(level=settings.log_level, json=settings.log_json)
    runtime = _runtime()
    run_scheduler(worker_jobs(runtime), runtime.session_factory, runtime.clock)


@bench_app.command("push")
def bench_push(
    orders: Annotated[int, typer.Option(help="pushes to send, each a new order")] = 20_000,
    clients: Annotated[int, typer.Option(help="concurrent keep-alive clients")] = 16,
    workers: Annotated[int, typer.Option(help="server worker processes")] = 2,
    output: Annotated[str, typer.Option(help="markdown file to append results to")] = "docs/benchmarks.md",
) -> None:
    """Push path: signed pushes to `orderhub serve --workers N`, orders/s and p99 (use an empty database)."""
    from orderhub.benchmarks.push import run_push_benchmark

    run_push_benchmark(get_settings(), orders=orders, clients=clients, workers=workers, output=output,
                       console=console)


@bench_app.command("import")
def bench_import(
    orders: Annotated[int, typer.Option(help="orders in the export file to import")] = 1_000_000,
    raw: Annotated[int, typer.Option(help="orders for the raw batched INSERT baseline")] = 200_000,
    channel: Annotated[str, typer.Option(help="platform whose export format is written")] = "taobao",
    file: Annotated[Path | None, typer.Option(help="import this export instead of writing one")] = None,
    output: Annotated[str, typer.Option(help="markdown file to append results to")] = "docs/benchmarks.md",
) -> None:
    """Import of a platform export on PostgreSQL, orders/s, beside the raw batched INSERT rate (empty database)."""
    from orderhub.benchmarks.imports import run_import_benchmark
    from orderhub.core.errors import OrderHubError

    try:
        run_import_benchmark(get_settings(), orders=orders, raw=raw, channel=channel, file=file, output=output,
                             console=console)
    except OrderHubError as exc:
        raise _fail(exc) from exc


@inventory_app.command("verify")
def inventory_verify() -> None:
    """Recompute every stock balance from the ledger and the live reservations; exit 1 if any differs."""
    from orderhub.inventory import service as inventory

    with _runtime().reading() as session:
        mismatches = inventory.verify(session)
    if not mismatches:
        console.print("库存与台账一致 / every balance equals the ledger")
        return
    for mismatch in mismatches:
        console.print(f"[red]不一致 mismatch[/red] {mismatch}")
    raise typer.Exit(code=1)


@inventory_app.command("receive")
def inventory_receive(
    sku: Annotated[str, typer.Option(help="the SKU code")],
    warehouse: Annotated[str, typer.Option(help="the warehouse code")],
    qty: Annotated[int, typer.Option(help="units received")],
    key: Annotated[str, typer.Option(help="idempotency key (e.g. the delivery note number)")],
    reason: Annotated[str, typer.Option(help="why")] = "采购入库",
) -> None:
    """Put received goods on hand; the same key again changes nothing."""
    from orderhub.core.actor import Actor
    from orderhub.core.errors import OrderHubError
    from orderhub.inventory import service as inventory

    try:
        change = inventory.receive(_runtime().uow(), sku=sku, warehouse=warehouse, qty=qty, idempotency_key=key,
                                   reason=reason, actor=Actor("cli", "cli"))
    except OrderHubError as exc:
        raise _fail(exc) from exc
    seen = "（重复提交，未再入库）/ replayed, nothing changed" if change.replayed else ""
    console.print(f"{change.sku}@{change.warehouse}: 现有 on hand {change.on_hand}, 可用 available "
                  f"{change.available} {seen}")


@bench_app.command("reservations")
def bench_reservations(
    clients: Annotated[int, typer.Option(help="concurrent clients, one connection each")] = 32,
    processes: Annotated[int, typer.Option(help="processes the clients run in (threads in each)")] = 4,
    units: Annotated[int, typer.Option(help="units of the hot SKU on hand")] = 20_000,
    attempts: Annotated[int, typer.Option(help="reservation attempts in all (more than the units)")] = 24_000,
    output: Annotated[str, typer.Option(help="markdown file to append results to")] = "docs/benchmarks.md",
) -> None:
    """Reservations/s on one hot SKU on PostgreSQL, beside the raw guarded UPDATE rate (empty database)."""
    from orderhub.benchmarks.reservations import run_reservation_benchmark
    from orderhub.core.errors import OrderHubError

    try:
        run_reservation_benchmark(get_settings(), clients=clients, processes=processes, units=units,
                                  attempts=attempts, output=output, console=console)
    except OrderHubError as exc:
        raise _fail(exc) from exc


@bench_app.command("tracking")
def bench_tracking(
    waybills: Annotated[int, typer.Option(help="waybills the pushes are for")] = 1_000,
    pushes: Annotated[int, typer.Option(help="measured pushes per waybill, 10 events each")] = 10,
    clients: Annotated[int, typer.Option(help="concurrent keep-alive clients posting pushes")] = 8,
    workers: Annotated[int, typer.Option(help="server worker processes")] = 2,
    output: Annotated[str, typer.Option(help="markdown file to append results to")] = "docs/benchmarks.md",
) -> None:
    """Kuaidi100 pushes over HTTP to `orderhub serve --workers N`, events/s with 30 % duplicates (empty PostgreSQL)."""
    from orderhub.benchmarks.tracking import run_tracking_benchmark
    from orderhub.core.errors import OrderHubError

    try:
        run_tracking_benchmark(get_settings(), waybills=waybills, pushes=pushes, clients=clients, workers=workers,
                               output=output, console=console)
    except OrderHubError as exc:
        raise _fail(exc) from exc


@bench_app.command("routing")
def bench_routing(
    orders: Annotated[int, typer.Option(help="approved orders to route")] = 100_000,
    workers: Annotated[int, typer.Option(min=1, max=16, help="routing worker processes")] = 1,
    output: Annotated[str, typer.Option(help="markdown file to append results to")] = "docs/benchmarks.md",
) -> None:
    """Routing (分单) of approved orders over 10 warehouses on PostgreSQL, orders/s (use an empty database)."""
    from orderhub.benchmarks.routing import run_routing_benchmark
    from orderhub.core.errors import OrderHubError

    try:
        run_routing_benchmark(get_settings(), orders=orders, workers=workers, output=output, console=console)
    except OrderHubError as exc:
        raise _fail(exc) from exc


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=get_settings().zone)
    return value


@channels_app.command("backfill")
def channels_backfill(
    channel: Annotated[str, typer.Option(help="channel name")],
    shop: Annotated[str, typer.Option(help="shop code")],
    since: Annotated[str, typer.Option("--from", help="start, ISO 8601 (business timezone if no offset)")],
    until: Annotated[str, typer.Option("--to", help="end, ISO 8601 (business timezone if no offset)")],
) -> None:
    """Re-pull a time range after an outage; every missed order is ingested exactly once."""
    from orderhub.channels import jobs
    from orderhub.core.errors import OrderHubError

    try:
        report = jobs.backfill(_runtime(), channel=channel, shop_code=shop, start=_instant(since), end=_instant(until))
    except (OrderHubError, ValueError) as exc:
        raise _fail(exc) from exc
    _print_tally(report.tally.counts)
    if report.error:
        raise _fail(RuntimeError(f"stopped after {report.pages} pages: {report.error}"))


@channels_app.command("health")
def channels_health() -> None:
    """Per shop: last success, calls and failures in the last hour, lag, open dead letters."""
    from orderhub.channels.health import shop_health

    runtime = _runtime()
    table = Table("shop", "last success", "calls/h", "failures/h", "failure rate", "lag", "dead letters", "last error")
    with runtime.reading() as session:
        for row in shop_health(session, runtime.clock.now()):
            table.add_row(f"{row.channel}/{row.code}", f"{row.last_success_at:%m-%d %H:%M}" if row.last_success_at
                          else "-", str(row.calls), str(row.failures), f"{row.failure_rate:.0%}",
                          str(row.lag).split(".")[0] if row.lag else "-", str(row.open_dead_letters),
                          (row.last_error or "")[:40])
    console.print(table)


def _print_tally(counts: dict[str, int]) -> None:
    table = Table("result", "orders")
    for result in ("created", "updated", "unchanged", "stale", "held", "dead_lettered"):
        table.add_row(result, str(counts.get(result, 0)))
    console.print(table)


@deadletters_app.command("list")
def deadletters_list(
    status: Annotated[str, typer.Option(help="open, replayed, discarded, rejected")] = "open",
    channel: Annotated[str | None, typer.Option(help="only this channel")] = None,
    limit: Annotated[int, typer.Option(help="how many, newest first")] = 50,
) -> None:
    """List dead letters."""
    from orderhub.channels import deadletters

    table = Table("id", "received", "channel", "source", "reason", "platform order", "attempts")
    runtime = _runtime()
    with runtime.reading() as session:
        filters = deadletters.DeadLetterFilters(status=status, channel=channel)
        for letter in deadletters.list_dead_letters(session, filters, limit=limit):
            table.add_row(str(letter.id), f"{letter.received_at:%m-%d %H:%M}", letter.channel, letter.source,
                          f"[{letter.reason_code}] {letter.reason[:60]}", letter.channel_order_id, str(letter.attempts))
    console.print(table)


@deadletters_app.command("show")
def deadletters_show(letter_id: Annotated[int, typer.Argument(help="dead letter id")]) -> None:
    """Show a dead letter: reason, raw body (pretty-printed) and what people did with it."""
    from orderhub.channels import deadletters
    from orderhub.core.errors import OrderHubError

    runtime = _runtime()
    with runtime.reading() as session:
        try:
            letter = deadletters.get_dead_letter(session, letter_id)
        except OrderHubError as exc:
            raise _fail(exc) from exc
        console.print(f"#{letter.id} {letter.channel} {letter.source} {letter.status} [{letter.reason_code}]")
        console.print(letter.reason)
        console.print(deadletters.reformat(letter.raw_body), markup=False)
        for action in deadletters.actions_of(session, letter_id):
            console.print(f"{action.at:%Y-%m-%d %H:%M} {action.actor} {action.action}: {action.outcome}")


@deadletters_app.command("replay")
def deadletters_replay(
    letter_ids: Annotated[list[int], typer.Argument(help="dead letter ids")],
    corrected: Annotated[Path | None, typer.Option(help="file with a corrected body (one id only)")] = None,
    actor: Annotated[str, typer.Option(help="who replays (audit)")] = "cli",
) -> None:
    """Replay dead letters (after fixing a mapping, a SKU mapping, or with a corrected body)."""
    from orderhub.channels import deadletters
    from orderhub.core.actor import Actor
    from orderhub.core.errors import OrderHubError

    runtime = _runtime()
    body = corrected.read_text(encoding="utf-8") if corrected else None
    try:
        outcomes = deadletters.replay(runtime.uow(), letter_ids=letter_ids, actor=Actor(actor, "cli"),
                                      policy=runtime.policy, corrected_body=body)
    except OrderHubError as exc:
        raise _fail(exc) from exc
    for letter_id, outcome in zip(letter_ids, outcomes, strict=True):
        console.print(f"#{letter_id}: {outcome.result} {outcome.order_no or outcome.reason}")


@deadletters_app.command("discard")
def deadletters_discard(
    letter_ids: Annotated[list[int], typer.Argument(help="dead letter ids")],
    reason: Annotated[str, typer.Option(help="why nobody will replay them")],
    actor: Annotated[str, typer.Option(help="who discards (audit)")] = "cli",
) -> None:
    """Close dead letters that will not be replayed, with a reason."""
    from orderhub.channels import deadletters
    from orderhub.core.actor import Actor
    from orderhub.core.errors import OrderHubError

    try:
        count = deadletters.discard(_runtime().uow(), letter_ids=letter_ids, actor=Actor(actor, "cli"), note=reason)
    except OrderHubError as exc:
        raise _fail(exc) from exc
    console.print(f"{count} dead letter(s) discarded")


@simulate_app.command("platforms")
def simulate_platforms(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 9100,
    orders: Annotated[int, typer.Option(help="orders per simulated shop at start")] = 50,
    sku: Annotated[list[str] | None, typer.Option(help="merchant SKU codes the orders use (repeatable)")] = None,
    push_to: Annotated[str | None, typer.Option(help="OrderHub base URL to push changes to")] = None,
    every: Annotated[float, typer.Option(help="seconds between simulated changes when pushing")] = 20.0,
) -> None:
    """Serve fakes of every platform's order API (real formats, paging, signing) with one shop each."""
    from orderhub.simulators.live import LiveFeed
    from orderhub.simulators.platforms import SimulatorState, run_platform_simulator
    from orderhub.simulators.platforms.state import PLATFORMS

    state = SimulatorState(sku or ["SKU-001", "SKU-002", "SKU-003"])
    table = Table("channel", "shop", "app key", "app secret", "access token", "base URL")
    for channel in PLATFORMS:
        shop = state.add_shop(channel, f"{channel}-1", orders=orders)
        credentials = shop.credentials(f"http://{host}:{port}")
        table.add_row(channel, shop.code, credentials.app_key, credentials.app_secret, credentials.access_token,
                      credentials.base_url)
    console.print(table)
    console.print("connect a shop: orderhub shop create --channel C --code S --app-key … --app-secret … "
                  "--access-token … --api-base-url …; faults: POST /_control/{channel}/{shop}/faults")
    feed = LiveFeed(state, push_to=push_to, every=every).start() if push_to else None
    try:
        run_platform_simulator(host, port, state)
    finally:
        if feed:
            feed.stop()


@simulate_app.command("kuaidi100")
def simulate_kuaidi100(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 9200,
    key: Annotated[str, typer.Option(help="the query API key (ORDERHUB_KUAIDI100_KEY)")] = "sim-key",
    customer: Annotated[str, typer.Option(help="the customer id (ORDERHUB_KUAIDI100_CUSTOMER)")] = "SIMCUSTOMER",
) -> None:
    """Serve a fake kuaidi100 real-time query API (real format and signing); tracks set via /_control/tracks."""
    from orderhub.simulators.kuaidi100 import Kuaidi100State, run_kuaidi100_simulator

    console.print(f"query URL: http://{host}:{port}/poll/query.do (ORDERHUB_KUAIDI100_QUERY_URL); "
                  "set a track: POST /_control/tracks; faults: POST /_control/faults")
    run_kuaidi100_simulator(host, port, Kuaidi100State(key=key, customer=customer))


@simulate_app.command("ewaybill")
def simulate_ewaybill(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 9201,
    key: Annotated[str, typer.Option(help="the API key (ORDERHUB_EWAYBILL_KEY)")] = "sim-key",
    secret: Annotated[str, typer.Option(help="the signing secret (ORDERHUB_EWAYBILL_SECRET)")]
    = "sim-secret",  # noqa: S107 - the simulator's made-up secret
    partner_id: Annotated[str, typer.Option(help="the e-waybill account (ORDERHUB_EWAYBILL_PARTNER_ID)")]
    = "SIMPARTNER",
) -> None:
    """Serve a fake kuaidi100 e-waybill API (电子面单 label/order, real format and signing) with fault injection."""
    from orderhub.simulators.ewaybill import EwaybillState, run_ewaybill_simulator

    console.print(f"e-waybill URL: http://{host}:{port}/label/order (ORDERHUB_EWAYBILL_URL); "
                  "faults: POST /_control/faults")
    run_ewaybill_simulator(host, port, EwaybillState(key=key, secret=secret, partner_id=partner_id))


@routing_app.command("check")
def routing_check(
    file: Annotated[Path | None, typer.Argument(help="routing tables (default: ORDERHUB_ROUTING_FILE, else built in)")]
    = None,
    order: Annotated[str | None, typer.Option("--order", help="show the decision for this order, applying nothing")]
    = None,
) -> None:
    """Validate a routing tables file; with --order, print the decision it would make for that order now."""
    from rich.markup import escape

    from orderhub.core.errors import OrderHubError
    from orderhub.core.money import fen_to_yuan
    from orderhub.fulfillment import service as fulfillment
    from orderhub.fulfillment.tables import RoutingTablesError, load_tables
    from orderhub.orders import service as orders

    try:
        tables = load_tables(file or get_settings().routing_file)
    except RoutingTablesError as exc:
        console.print(f"[red]{escape(exc.title)}[/red]: {escape(str(exc.path))}")
        for problem in exc.problems:
            console.print(f"  - {escape(problem)}")
        raise typer.Exit(code=1) from None
    console.print(f"ok: {escape(tables.source)} ({tables.fingerprint}) — {len(tables.carriers)} 快递 carriers, "
                  f"{len(tables.eta)} 仓库 warehouses with their own rows, {len(tables.rules)} 规则 rules")
    if order is None:
        return
    runtime = _runtime()
    with runtime.reading() as session:
        try:
            status = orders.get_order(session, order).status
            decision = fulfillment.preview(session, order_no=order, tables=tables, now=runtime.clock.now())
        except OrderHubError as exc:
            raise _fail(exc) from exc
    if status != "approved":
        console.print(f"[yellow]订单当前为 {status}，只有已审订单会被分仓 / the order is {status}; "
                      "only approved orders are routed — this is what would happen if it were approved[/yellow]")
    outcome = decision.outcome.value + (f" ({decision.reason.value})" if decision.reason else "")
    console.print(f"{escape(order)} → {escape(decision.province)} {escape(decision.city)}, "
                  f"{decision.weight_g} g: [bold]{outcome}[/bold]")
    if decision.shortages:
        console.print("合计缺货 / short in all warehouses together: " + ", ".join(
            f"{s.sku} {s.have}/{s.need}" for s in decision.shortages))
    parcels = Table("仓库 warehouse", "快递 carrier", "商品 items", "重量 g", "时效 h", "运费 ¥")
    for parcel in decision.parcels:
        parcels.add_row(parcel.warehouse, parcel.carrier, ", ".join(f"{sku}×{qty}" for sku, qty in parcel.lines),
                        str(parcel.weight_g), str(parcel.eta_hours), fen_to_yuan(parcel.cost_fen))
    if decision.parcels:
        console.print(parcels)
    why = Table("仓库 warehouse", "结论 verdict", "时效 h", "运费 ¥", "快递 carrier", "说明 detail")
    for item in decision.warehouses:
        detail = ", ".join(f"缺 short {s.sku} {s.have}/{s.need}" for s in item.shortages)
        if item.until:
            detail = f"until {item.until:%Y-%m-%d %H:%M} UTC"
        why.add_row(f"{item.code} {item.name}", item.verdict.value, str(item.eta_hours or "-"),
                    fen_to_yuan(item.cost_fen) if item.cost_fen is not None else "-", item.carrier or "-",
                    escape(detail))
    console.print(why)
    for title, options in [*((f"快递 carrier ({p.warehouse})", p.carriers) for p in decision.parcels),
                           *([("快递 carrier (no one left)", decision.carriers)] if decision.carriers else [])]:
        carriers = Table(title, "结论 verdict", "时效 h", "运费 ¥", "规则 rule")
        for option in options:
            carriers.add_row(option.code, option.verdict.value, str(option.eta_hours or "-"),
                             fen_to_yuan(option.cost_fen) if option.cost_fen is not None else "-",
                             escape(option.rule or ""))
        console.print(carriers)


@statements_app.command("import")
def statements_import(
    file: Annotated[Path, typer.Argument(help="the statement: CSV (UTF-8, UTF-8 BOM or GBK) or XLSX")],
    source: Annotated[str, typer.Option(help="wechatpay, alipay, bank, settlement or pos")],
    account: Annotated[str, typer.Option(help="the account the statement is of (when the file does not say)")] = "",
    format: Annotated[str | None, typer.Option(help="a built-in format name, or a format YAML file (default: told "
                                                    "from the header)")] = None,
) -> None:
    """Import a statement; lines already imported (from any file) are counted, never stored twice.
    Refused lines go to <file>.errors.csv. Exit 0: read; 1: not readable, nothing stored."""
    from rich.markup import escape
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from orderhub.core.actor import Actor
    from orderhub.core.errors import OrderHubError
    from orderhub.finance.imports import import_statement
    from orderhub.finance.model import Source

    try:
        parsed = Source(source)
    except ValueError:
        raise typer.BadParameter(f"--source must be one of {', '.join(s.value for s in Source)}") from None
    runtime = _runtime()
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task(f"导入 importing {escape(file.name)}", total=None)
            report = import_statement(runtime, file, source=parsed, format_name=format, account=account,
                                      actor=Actor("statement-import", "cli"),
                                      progress=lambda done, total: bar.update(task, completed=done, total=total))
    except OrderHubError as exc:
        raise _fail(exc) from exc
    console.print(f"{escape(str(file))} — {escape(report.format)} ({escape(report.describe)}), {report.seconds:.1f} s")
    for file_id, at in report.imported_before:
        console.print(f"[yellow]同一文件已于 {at:%Y-%m-%d %H:%M} 导入（#{file_id}）/ this file was imported before "
                      f"(#{file_id}); nothing is counted twice[/yellow]")
    if report.ignored_columns:
        console.print(f"[yellow]已忽略的列 / ignored columns:[/yellow] {escape(', '.join(report.ignored_columns))}")
    table = Table("结果 / outcome", "数量 / count")
    for label, number in report.figures():
        table.add_row(label, str(number))
    console.print(table)
    if report.duplicate:
        console.print(f"已导入过 {report.duplicate} 行，未重复计入 / already imported {report.duplicate}")
    for error in report.samples:
        console.print(f"  [red]{error.code}[/red] 行 row {error.row} {escape(error.txn_id)} {escape(error.message)}")
    if report.errors_path is not None:
        console.print(f"错误明细 / error report: {escape(str(report.errors_path))}", soft_wrap=True)
    if report.business_dates:
        days = sorted(report.business_dates)
        console.print(f"对账请运行 / to reconcile: orderhub reconcile --date {days[0]}"
                      + (f" … --date {days[-1]}" if len(days) > 1 else ""))


@app.command()
def reconcile(
    date: Annotated[str | None, typer.Option("--date", help="business day YYYY-MM-DD (default: the last days the "
                                                            "daily job covers)")] = None,
    everything: Annotated[bool, typer.Option("--all", help="every order and statement line")] = False,
) -> None:
    """Match statement lines to paid orders; rerunning replaces the results for the same lines and orders."""
    from datetime import date as Date

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from orderhub.core.actor import Actor
    from orderhub.finance import service as finance
    from orderhub.finance.engine import STAGES, Scope

    runtime = _runtime()
    if everything and date:
        raise typer.BadParameter("give --date or --all, not both")
    try:
        scope = Scope.everything() if everything else Scope.days(Date.fromisoformat(date)) if date else \
            finance.recent_days(runtime)
    except ValueError:
        raise typer.BadParameter("--date is YYYY-MM-DD") from None
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console,
                  transient=True) as bar:
        task = bar.add_task(f"对账 reconciling {scope.label}", total=STAGES)
        report = finance.reconcile(runtime, scope=scope, actor=Actor("reconcile", "cli"),
                                   progress=lambda stage, done: bar.update(task, completed=done,
                                                                           description=f"对账 reconciling: {stage}"))
    console.print(f"对账 reconciled {scope.label}: {report.lines} 行 lines, {report.orders} 单 orders, "
                  f"{report.seconds:.1f} s (run #{report.run_id})")
    table = Table("类别 / class", "对账单行 / lines", "订单 / orders")
    for klass in sorted(set(report.line_classes) | set(report.order_classes)):
        table.add_row(klass, str(report.line_classes.get(klass, 0)), str(report.order_classes.get(klass, 0)))
    console.print(table)
    console.print(f"差异 discrepancies: {report.discrepancies_created} 新增 new, {report.discrepancies_cleared} "
                  f"自动消除 cleared, {report.discrepancies_reopened} 重新打开 reopened")


@finance_app.command("export")
def finance_export(
    out: Annotated[Path, typer.Argument(help="file to write: .xlsx or .pdf")],
    what: Annotated[str, typer.Option("--report", help="receivables or discrepancies")] = "receivables",
    date_from: Annotated[str | None, typer.Option("--from", help="first business day YYYY-MM-DD")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="last business day YYYY-MM-DD")] = None,
    status: Annotated[str | None, typer.Option(help="discrepancies: open, escalated, resolved, cleared, "
                                                    "unresolved")] = None,
    language: Annotated[str, typer.Option(help="zh-CN or en")] = "zh-CN",
) -> None:
    """Write the receivable-vs-received report or the discrepancy list as Excel or PDF."""
    from datetime import date as Date

    from orderhub.core.errors import OrderHubError
    from orderhub.finance import exports
    from orderhub.finance import service as finance
    from orderhub.finance.api import discrepancy_filters, report_range

    suffix = out.suffix.lower()
    if suffix not in (".xlsx", ".pdf") or what not in ("receivables", "discrepancies"):
        raise typer.BadParameter("write .xlsx or .pdf, of --report receivables or discrepancies")
    runtime = _runtime()
    zone = runtime.settings.zone
    generated = f"{runtime.clock.now().astimezone(zone):%Y-%m-%d %H:%M}"
    try:
        first = Date.fromisoformat(date_from) if date_from else None
        last = Date.fromisoformat(date_to) if date_to else None
    except ValueError:
        raise typer.BadParameter("--from and --to are YYYY-MM-DD") from None
    try:
        with runtime.reading() as session:
            if what == "receivables":
                first, last = report_range(first, last, runtime.clock.now().astimezone(zone).date())
                rows = finance.receivables_report(session, date_from=first, date_to=last)
                totals = finance.report_totals(rows)
                data = (exports.report_workbook(rows, totals, language=language) if suffix == ".xlsx" else
                        exports.report_pdf(rows, totals, date_from=first, date_to=last, generated=generated,
                                           language=language))
            else:
                items = finance.export_discrepancies(session, discrepancy_filters(status, None, None, None, first,
                                                                                  last))
                data = (exports.discrepancies_workbook(items, zone=zone, language=language) if suffix == ".xlsx"
                        else exports.discrepancies_pdf(items, zone=zone, generated=generated, language=language))
    except OrderHubError as exc:
        raise _fail(exc) from exc
    out.write_bytes(data)
    console.print(f"已写入 written: {out} ({len(data):,} bytes)")


@bench_app.command("reconcile")
def bench_reconcile(
    orders: Annotated[int, typer.Option(help="paid orders (and about as many statement lines) to load")] = 1_000_000,
    output: Annotated[str, typer.Option(help="markdown file to append results to")] = "docs/benchmarks.md",
) -> None:
    """Reconcile 1M statement lines against 1M orders on PostgreSQL (use an empty database)."""
    from orderhub.benchmarks.reconcile import run_reconcile_benchmark
    from orderhub.core.errors import OrderHubError

    try:
        run_reconcile_benchmark(get_settings(), orders=orders, output=output, console=console)
    except OrderHubError as exc:
        raise _fail(exc) from exc
