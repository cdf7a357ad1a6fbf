"""Initial schema of the results store, and the triggers that keep the audit log append-only.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

A migration is frozen once released: it uses plain SQLAlchemy types (UTC columns are naive ``DateTime``; the
models' ``UTCDateTime`` only converts on the way in and out) and never imports the models.
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=100), nullable=False),
    sa.Column('entity', sa.String(length=50), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=True),
    sa.Column('site_id', sa.Integer(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('phantom',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('profile_snapshot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('profile_id', sa.String(length=200), nullable=False),
    sa.Column('version', sa.String(length=100), nullable=False),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sha256')
    )
    op.create_table('site',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('auto_baseline', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('department',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['site.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('site_id', 'name')
    )
    op.create_table('site_rule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('department', sa.String(length=200), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('station_name', sa.String(length=200), nullable=False),
    sa.Column('ae_title', sa.String(length=64), nullable=False),
    sa.Column('manufacturer', sa.String(length=200), nullable=False),
    sa.Column('serial', sa.String(length=200), nullable=False),
    sa.Column('modality', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['site.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('device',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=500), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('modality', sa.String(length=16), nullable=False),
    sa.Column('manufacturer', sa.String(length=200), nullable=False),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('serial', sa.String(length=200), nullable=False),
    sa.Column('station_name', sa.String(length=200), nullable=False),
    sa.Column('ae_title', sa.String(length=64), nullable=False),
    sa.Column('registered_at', sa.DateTime(), nullable=False),
    sa.Column('registered_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], ),
    sa.ForeignKeyConstraint(['site_id'], ['site.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_site_id'), ['site_id'], unique=False)

    op.create_table('analysis_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=True),
    sa.Column('site_id', sa.Integer(), nullable=True),
    sa.Column('phantom_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=100), nullable=False),
    sa.Column('analyzer', sa.String(length=100), nullable=False),
    sa.Column('test_type', sa.String(length=20), nullable=False),
    sa.Column('profile_snapshot_id', sa.Integer(), nullable=True),
    sa.Column('config_hash', sa.String(length=64), nullable=False),
    sa.Column('phantomqc_version', sa.String(length=50), nullable=False),
    sa.Column('input_key', sa.String(length=64), nullable=False),
    sa.Column('input', sa.JSON(), nullable=False),
    sa.Column('parameters', sa.JSON(), nullable=False),
    sa.Column('warnings', sa.JSON(), nullable=False),
    sa.Column('error', sa.JSON(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('acquired_at', sa.DateTime(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.Column('recorded_by', sa.String(length=200), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['device.id'], ),
    sa.ForeignKeyConstraint(['phantom_id'], ['phantom.id'], ),
    sa.ForeignKeyConstraint(['profile_snapshot_id'], ['profile_snapshot.id'], ),
    sa.ForeignKeyConstraint(['site_id'], ['site.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('input_key', 'phantomqc_version', name='uq_run_identity')
    )
    with op.batch_alter_table('analysis_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_analysis_run_site_id'), ['site_id'], unique=False)
        batch_op.create_index('ix_run_device_kind_time', ['device_id', 'kind', 'acquired_at'], unique=False)

    op.create_table('schedule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=100), nullable=False),
    sa.Column('rrule', sa.Text(), nullable=False),
    sa.Column('dtstart', sa.DateTime(), nullable=False),
    sa.Column('window_before_h', sa.Float(), nullable=False),
    sa.Column('window_after_h', sa.Float(), nullable=False),
    sa.Column('cutoff', sa.String(length=5), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['device.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('device_id', 'kind', name='uq_schedule_device_kind')
    )
    op.create_table('service_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('kind', sa.String(length=50), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('recorded_by', sa.String(length=200), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['device.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('service_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_event_device_id'), ['device_id'], unique=False)

    op.create_table('tolerance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=True),
    sa.Column('metric', sa.String(length=200), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('mode', sa.String(length=20), nullable=False),
    sa.Column('act_low', sa.Float(), nullable=True),
    sa.Column('tol_low', sa.Float(), nullable=True),
    sa.Column('tol_high', sa.Float(), nullable=True),
    sa.Column('act_high', sa.Float(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['device.id'], ),
    sa.ForeignKeyConstraint(['site_id'], ['site.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('baseline',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('metric', sa.String(length=200), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('unit', sa.String(length=50), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('valid_from', sa.DateTime(), nullable=True),
    sa.Column('set_at', sa.DateTime(), nullable=False),
    sa.Column('set_by', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('superseded_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['device_id'], ['device.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['analysis_run.id'], ),
    sa.ForeignKeyConstraint(['superseded_by_id'], ['baseline.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('baseline', schema=None) as batch_op:
        batch_op.create_index('ix_baseline_lookup', ['device_id', 'metric', 'label', 'active'], unique=False)

    op.create_table('measurement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('metric', sa.String(length=200), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('unit', sa.String(length=50), nullable=False),
    sa.Column('uncertainty', sa.Float(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['analysis_run.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('measurement', schema=None) as batch_op:
        batch_op.create_index('ix_measurement_metric', ['metric', 'label'], unique=False)
        batch_op.create_index(batch_op.f('ix_measurement_run_id'), ['run_id'], unique=False)

    op.create_table('review',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('automatic', sa.Boolean(), nullable=False),
    sa.Column('reviewer', sa.String(length=200), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['analysis_run.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id')
    )
    op.create_table('verdict',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('metric', sa.String(length=200), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('origin', sa.String(length=20), nullable=False),
    sa.Column('criterion', sa.Text(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('test_type', sa.String(length=20), nullable=False),
    sa.Column('confirmed', sa.Boolean(), nullable=False),
    sa.Column('has_criterion', sa.Boolean(), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('unit', sa.String(length=50), nullable=False),
    sa.Column('reference', sa.Float(), nullable=True),
    sa.Column('baseline_id', sa.Integer(), nullable=True),
    sa.Column('limits', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['baseline_id'], ['baseline.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['analysis_run.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('verdict', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_verdict_run_id'), ['run_id'], unique=False)

    _audit_triggers_up()


_SQLITE_TRIGGERS = [f"""CREATE TRIGGER audit_log_no_{op_} BEFORE {op_.upper()} ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""" for op_ in ("update", "delete")]

_PG_FUNCTION = """CREATE OR REPLACE FUNCTION phantomqc_audit_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql"""
_PG_TRIGGER = """CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION phantomqc_audit_append_only()"""


def _audit_triggers_up() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for sql in _SQLITE_TRIGGERS:
            op.execute(sql)
    elif dialect == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(_PG_TRIGGER)


def _audit_triggers_down() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS phantomqc_audit_append_only()")


def downgrade() -> None:
    _audit_triggers_down()
    with op.batch_alter_table('verdict', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_verdict_run_id'))

    op.drop_table('verdict')
    op.drop_table('review')
    with op.batch_alter_table('measurement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_measurement_run_id'))
        batch_op.drop_index('ix_measurement_metric')

    op.drop_table('measurement')
    with op.batch_alter_table('baseline', schema=None) as batch_op:
        batch_op.drop_index('ix_baseline_lookup')

    op.drop_table('baseline')
    op.drop_table('tolerance')
    with op.batch_alter_table('service_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_event_device_id'))

    op.drop_table('service_event')
    op.drop_table('schedule')
    with op.batch_alter_table('analysis_run', schema=None) as batch_op:
        batch_op.drop_index('ix_run_device_kind_time')
        batch_op.drop_index(batch_op.f('ix_analysis_run_site_id'))

    op.drop_table('analysis_run')
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_site_id'))

    op.drop_table('device')
    op.drop_table('site_rule')
    op.drop_table('department')
    op.drop_table('site')
    op.drop_table('profile_snapshot')
    op.drop_table('phantom')
    op.drop_table('audit_log')
