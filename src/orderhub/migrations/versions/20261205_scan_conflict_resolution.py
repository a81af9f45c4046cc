"""scan conflicts resolved by a person: the decision (applied or dismissed), who, when and the note

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import orderhub.core.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = orderhub.core.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    # Scans stored before this revision were never resolved: "" for the text columns, NULL for the time.
    with op.batch_alter_table("warehouse_scan", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resolution", sa.String(length=16), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("resolved_at", UTC_TIME, nullable=True))
        batch_op.add_column(sa.Column("resolved_by", sa.String(length=64), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("resolution_note", sa.String(length=500), nullable=False, server_default=""))
        batch_op.create_index("ix_warehouse_scan_resolution", ["resolution", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("warehouse_scan", schema=None) as batch_op:
        batch_op.drop_index("ix_warehouse_scan_resolution")
        batch_op.drop_column("resolution_note")
        batch_op.drop_column("resolved_by")
        batch_op.drop_column("resolved_at")
        batch_op.drop_column("resolution")
