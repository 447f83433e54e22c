package keyplane

import "time"

// QueueHealth is what the health metrics of the deployment job queue
// report.
type QueueHealth struct {
	// Leader reports whether a server holds the queue's leadership (and so
	// runs the rescuer and the periodic sweep), unexpired.
	Leader bool
	// OldestRunning is how long the oldest running job of the kind has run
	// in its current attempt; zero when none runs.
	OldestRunning time.Duration
	// Stuck counts the operations not finished that were created longer
	// ago than the stuckAfter given.
	Stuck int64
}
