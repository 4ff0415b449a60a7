package bgjobotel

// WithSmallBacklog gives the Telemetry's subscription an unbuffered
// channel and a backlog of n, so that a test can make it lag.
func WithSmallBacklog(n int) Option {
	return optionFunc(func(c *config) error {
		c.backlog, c.unbuffered = n, true
		return nil
	})
}
