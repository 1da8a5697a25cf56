//go:build race

package balancer

// raceEnabled scales down the heaviest statistical tests under the race detector.
const raceEnabled = true
