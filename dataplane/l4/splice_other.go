//go:build !linux

package l4

import "net"

func spliceCopy(dst, src *net.TCPConn, sk *sink) (spliced, copied int64, err error) {
	copied, err = bufferCopy(dst, src, sk)
	return 0, copied, err
}
