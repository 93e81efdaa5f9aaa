package caldav

// SetMultigetBatch makes calendar-multiget batches small for a test and
// returns the function that restores the size.
func SetMultigetBatch(n int) (restore func()) {
	old := multigetBatch
	multigetBatch = n
	return func() { multigetBatch = old }
}
