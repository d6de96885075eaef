package store

// PollEvery is pollEvery, for tests of how soon other processes' writes
// are seen.
const PollEvery = pollEvery
