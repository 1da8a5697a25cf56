//go:build race

package l4

// raceEnabled scales the bulk transfer down under the race detector, which
// makes every copy loop iteration and hash step many times slower.
const raceEnabled = true
