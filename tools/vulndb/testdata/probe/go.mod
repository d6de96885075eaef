// A throwaway module that calls a function with a known vulnerability
// (GO-2021-0113 in golang.org/x/text/language, fixed in v0.3.7), so that
// scripts/test.sh can check that the offline database still finds one. It is
// never built into sekisho: the go.mod keeps it out of ./... .
module probe

go 1.26.0

require golang.org/x/text v0.3.5
