package postgres

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Collector returns the Prometheus collector of the database's state: its
// liveness and the connection pool's statistics. Collecting reads counters
// in memory and never waits on the database, so a scrape answers even when
// the database does not.
func (db *DB) Collector() prometheus.Collector {
	desc := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &dbCollector{
		db: db,
		up: desc("keyplane_database_up",
			"1 when the database answered its last liveness check (a ping every second), 0 while it does not and requests that need it answer 503."),
		inUse: desc("keyplane_db_pool_in_use_connections",
			"Connections of the pool currently acquired (running a statement or a transaction)."),
		idle: desc("keyplane_db_pool_idle_connections",
			"Connections of the pool open and waiting for work."),
		total: desc("keyplane_db_pool_total_connections",
			"Connections of the pool: in use, idle and being opened."),
		max: desc("keyplane_db_pool_max_connections",
			"Largest number of connections the pool opens (pool_max_conns)."),
		acquires: desc("keyplane_db_pool_acquires_total",
			"Connections acquired from the pool."),
		emptyAcquires: desc("keyplane_db_pool_empty_acquires_total",
			"Acquires that found no idle connection and waited for one to be opened or released."),
		wait: desc("keyplane_db_pool_acquire_wait_seconds_total",
			"Time spent waiting by acquires that found no idle connection."),
		canceled: desc("keyplane_db_pool_canceled_acquires_total",
			"Acquires given up because their request or job ended, or the database stopped answering, first."),
	}
}

type dbCollector struct {
	db                                                                   *DB
	up, inUse, idle, total, max, acquires, emptyAcquires, wait, canceled *prometheus.Desc
}

// Describe implements prometheus.Collector.
func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.inUse, c.idle, c.total, c.max, c.acquires, c.emptyAcquires, c.wait, c.canceled} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	up := 0.0
	if c.db.Up() {
		up = 1
	}
	s := c.db.Pool.Stat()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(c.up, up)
	gauge(c.inUse, float64(s.AcquiredConns()))
	gauge(c.idle, float64(s.IdleConns()))
	gauge(c.total, float64(s.TotalConns()))
	gauge(c.max, float64(s.MaxConns()))
	counter(c.acquires, float64(s.AcquireCount()))
	counter(c.emptyAcquires, float64(s.EmptyAcquireCount()))
	counter(c.wait, s.EmptyAcquireWaitTime().Seconds())
	counter(c.canceled, float64(s.CanceledAcquireCount()))
}
