-- The run store schema of lstmlab 0.1.0 (before schema revisions were recorded), as its
-- SQLAlchemy metadata created it on postgresql: one statement per ';'.
CREATE TABLE lstmlab_runs (
	id VARCHAR(64) NOT NULL, 
	name TEXT NOT NULL, 
	tags TEXT NOT NULL, 
	status VARCHAR(32) NOT NULL, 
	message TEXT NOT NULL, 
	created_at DOUBLE PRECISION NOT NULL, 
	wall_time DOUBLE PRECISION NOT NULL, 
	config_key VARCHAR(64) NOT NULL, 
	config_json TEXT NOT NULL, 
	layout TEXT NOT NULL, 
	cell VARCHAR(16), 
	task VARCHAR(16), 
	seq_len BIGINT, 
	hidden_size BIGINT, 
	layers BIGINT, 
	weight_scale DOUBLE PRECISION, 
	init VARCHAR(16), 
	optimizer VARCHAR(16), 
	lr DOUBLE PRECISION, 
	steps BIGINT, 
	seed BIGINT, 
	dtype VARCHAR(16), 
	PRIMARY KEY (id)
);

CREATE INDEX ix_lstmlab_runs_config_key ON lstmlab_runs (config_key);

CREATE INDEX ix_lstmlab_runs_created_at ON lstmlab_runs (created_at);

CREATE TABLE lstmlab_eval (
	run_id VARCHAR(64) NOT NULL, 
	pos BIGINT NOT NULL, 
	step BIGINT, 
	loss DOUBLE PRECISION, 
	metric DOUBLE PRECISION, 
	PRIMARY KEY (run_id, pos), 
	FOREIGN KEY(run_id) REFERENCES lstmlab_runs (id)
);

CREATE TABLE lstmlab_flow (
	run_id VARCHAR(64) NOT NULL, 
	pos BIGINT NOT NULL, 
	step BIGINT, 
	layer BIGINT, 
	t BIGINT, 
	lag BIGINT, 
	dh_norm DOUBLE PRECISION, 
	dc_norm DOUBLE PRECISION, 
	dg_h DOUBLE PRECISION, 
	dg_i DOUBLE PRECISION, 
	dg_f DOUBLE PRECISION, 
	dg_n DOUBLE PRECISION, 
	dg_o DOUBLE PRECISION, 
	dg_r DOUBLE PRECISION, 
	dg_z DOUBLE PRECISION, 
	PRIMARY KEY (run_id, pos), 
	FOREIGN KEY(run_id) REFERENCES lstmlab_runs (id)
);

CREATE TABLE lstmlab_params (
	run_id VARCHAR(64) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	pos BIGINT NOT NULL, 
	shape TEXT NOT NULL, 
	dtype VARCHAR(32) NOT NULL, 
	data BYTEA NOT NULL, 
	PRIMARY KEY (run_id, name), 
	FOREIGN KEY(run_id) REFERENCES lstmlab_runs (id)
);

CREATE TABLE lstmlab_steps (
	run_id VARCHAR(64) NOT NULL, 
	pos BIGINT NOT NULL, 
	step BIGINT, 
	loss DOUBLE PRECISION, 
	metric DOUBLE PRECISION, 
	grad_norm DOUBLE PRECISION, 
	clipped BOOLEAN, 
	forget_mean DOUBLE PRECISION, 
	wall_time DOUBLE PRECISION, 
	PRIMARY KEY (run_id, pos), 
	FOREIGN KEY(run_id) REFERENCES lstmlab_runs (id)
);

CREATE TABLE lstmlab_values (
	run_id VARCHAR(64) NOT NULL, 
	tbl VARCHAR(16) NOT NULL, 
	pos BIGINT NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	value DOUBLE PRECISION, 
	PRIMARY KEY (run_id, tbl, pos, name), 
	FOREIGN KEY(run_id) REFERENCES lstmlab_runs (id)
);
