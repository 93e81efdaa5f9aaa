package webdav

import "time"

// SetWeakWait shortens the weak-ETag rule's wait for a test and returns
// the function that restores it.
func SetWeakWait(wait, poll time.Duration) (restore func()) {
	oldWait, oldPoll := weakWait, weakPoll
	weakWait, weakPoll = wait, poll
	return func() { weakWait, weakPoll = oldWait, oldPoll }
}
