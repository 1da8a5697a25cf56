package store

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The key layout under the prefix (docs/store.md has the full table).
// Revision numbers are zero-padded to 19 digits, the width of the largest
// int64, so that lexical order is numeric order and ranges and descending
// sorts work on keys alone.
const (
	keyCounter     = "revision"     // the Fulcrum revision counter
	dirObjects     = "objects/"     // objects/<Kind>/<name>
	dirRevisions   = "revisions/"   // revisions/<rev>: the operation log
	dirHistory     = "history/"     // history/<Kind>/<name>/<rev>: per-object index
	dirAllocations = "allocations/" // allocations/<Kind>/<name>
	dirHealth      = "health/"      // health/<pool>
	dirTokenID     = "tokens/id/"   // tokens/id/<id>
	dirTokenHash   = "tokens/hash/" // tokens/hash/<hash>
	dirTokenName   = "tokens/name/" // tokens/name/<name>: the token's ID
	dirProxies     = "proxies/"     // proxies/<node>, leased
)

// keys builds keys under one prefix.
type keys struct{ prefix string }

func (k keys) counter() string { return k.prefix + keyCounter }

func (k keys) object(kind, name string) string { return k.prefix + dirObjects + kind + "/" + name }

func (k keys) objectsOf(kind string) string { return k.prefix + dirObjects + kind + "/" }

func (k keys) revision(rev int64) string { return k.prefix + dirRevisions + pad(rev) }

func (k keys) history(kind, name string, rev int64) string {
	return k.historyOf(kind, name) + pad(rev)
}

func (k keys) historyOf(kind, name string) string {
	return k.prefix + dirHistory + kind + "/" + name + "/"
}

func (k keys) allocation(owner string) string { return k.prefix + dirAllocations + owner }

func (k keys) health(pool string) string { return k.prefix + dirHealth + pool }

func (k keys) tokenID(id string) string { return k.prefix + dirTokenID + url.PathEscape(id) }

func (k keys) tokenHash(h string) string { return k.prefix + dirTokenHash + url.PathEscape(h) }

func (k keys) tokenName(n string) string { return k.prefix + dirTokenName + url.PathEscape(n) }

func (k keys) proxy(node string) string { return k.prefix + dirProxies + url.PathEscape(node) }

func (k keys) dir(d string) string { return k.prefix + d }

func pad(rev int64) string { return fmt.Sprintf("%019d", rev) }

// revOfKey parses the revision at the end of a revisions/ or history/ key.
func revOfKey(key string) (int64, error) {
	i := strings.LastIndexByte(key, '/')
	return strconv.ParseInt(key[i+1:], 10, 64)
}

// prefixEnd is the first key after every key that starts with p.
func prefixEnd(p string) string { return clientv3.GetPrefixRangeEnd(p) }

// validName reports whether a name can be part of a key: names come from
// URLs, and a "/" would address another object's key.
func validName(name string) bool {
	return name != "" && !strings.ContainsAny(name, "/\x00")
}
