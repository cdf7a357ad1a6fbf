"""The analyzer figures of a run (``run_figure``): PNG bytes kept with acceptance runs for the signed report.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Additive: one new table, no change to an existing one, so a database made at 0001 is upgraded in place and keeps
every run. Frozen like 0001: plain SQLAlchemy types, no import of the models. ``LargeBinary`` is ``BLOB`` on SQLite
and ``bytea`` on PostgreSQL.
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('run_figure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('ordinal', sa.Integer(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('png', sa.LargeBinary(), nullable=False),
    sa.Column('width_px', sa.Integer(), nullable=False),
    sa.Column('height_px', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['analysis_run.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id', 'ordinal', name='uq_run_figure_ordinal')
    )
    with op.batch_alter_table('run_figure', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_run_figure_run_id'), ['run_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('run_figure', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_run_figure_run_id'))
    op.drop_table('run_figure')
