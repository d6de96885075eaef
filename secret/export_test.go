package secret

import "time"

// SetReloadInterval changes how often a Keyring may re-read its key file,
// so that a test can show the limit without depending on the clock. It
// returns a function that restores the old value.
func SetReloadInterval(d time.Duration) (restore func()) {
	old := reloadInterval
	reloadInterval = d
	return func() { reloadInterval = old }
}
