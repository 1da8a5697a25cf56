package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ProxyStatus is what a control plane knows about one connected data
// plane. It lives under an etcd lease held by that control plane, so it
// disappears by itself when the control plane dies.
type ProxyStatus struct {
	Node string `json:"node"`
	Zone string `json:"zone,omitempty"`
	// ControlPlane names the replica serving the node's xDS stream.
	ControlPlane string `json:"controlPlane,omitempty"`
	// Address is the node's address as the control plane sees it.
	Address string `json:"address,omitempty"`
	// AckedVersion is the last configuration version the node accepted.
	AckedVersion string `json:"ackedVersion,omitempty"`
	// NackedVersion and NackError describe the last version it rejected
	// (T3: a NACK keeps the old configuration and is visible in the API).
	NackedVersion string    `json:"nackedVersion,omitempty"`
	NackError     string    `json:"nackError,omitempty"`
	ConnectedAt   time.Time `json:"connectedAt"`
	UpdatedAt     time.Time `json:"updatedAt"`
}

// PutProxyStatus stores a node's status under a lease the caller holds
// (Client().Grant, then KeepAlive). Proxy statuses do not wake Watch.
func (s *Store) PutProxyStatus(ctx context.Context, st ProxyStatus, lease clientv3.LeaseID) error {
	if st.Node == "" || lease == clientv3.NoLease {
		return errors.New("store: put proxy status: a node name and a lease are required")
	}
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("store: put proxy status: %w", err)
	}
	_, err = s.txn(ctx, "put proxy status "+st.Node, nil, clientv3.OpPut(s.k.proxy(st.Node), string(data), clientv3.WithLease(lease)))
	return err
}

// DeleteProxyStatus removes a node's status if it is still attached to
// lease: when a node has already reconnected to another replica, the old
// replica's cleanup must not erase the new entry.
func (s *Store) DeleteProxyStatus(ctx context.Context, node string, lease clientv3.LeaseID) error {
	_, err := s.txn(ctx, "delete proxy status "+node,
		[]clientv3.Cmp{clientv3.Compare(clientv3.LeaseValue(s.k.proxy(node)), "=", lease)},
		clientv3.OpDelete(s.k.proxy(node)))
	return err
}

// ListProxyStatus returns the status of every connected node, by name.
func (s *Store) ListProxyStatus(ctx context.Context) ([]ProxyStatus, error) {
	return listJSON[ProxyStatus](ctx, s, "proxy status", dirProxies)
}
