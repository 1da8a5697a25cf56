package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/controlplane/ipam"
)

// DefaultPrefix is where Fulcrum keeps its keys in etcd.
const DefaultPrefix = "/fulcrum/"

// Defaults of Options.
const (
	DefaultRequestTimeout = 5 * time.Second
	DefaultDialTimeout    = 5 * time.Second
	// embeddedStartTimeout bounds the start of the embedded etcd: replaying
	// a large WAL takes a while, a wedged data directory must not hang forever.
	embeddedStartTimeout = time.Minute
	// maxRequestBytes is the embedded etcd's request limit and the client's
	// send limit: large enough for a big multi-object apply with its
	// revision record (which holds every object twice, before and after).
	maxRequestBytes = 10 << 20
	// maxTxnOps is the embedded etcd's limit on operations per
	// transaction; an apply needs two or three per changed object.
	maxTxnOps = 16384
)

// Options configure Open. With Endpoints the store uses an external etcd
// cluster; without, it runs an embedded single-member etcd in DataDir.
type Options struct {
	// Endpoints of an external etcd cluster, e.g. "http://10.0.0.1:2379".
	Endpoints []string
	// DataDir of the embedded etcd; required when Endpoints is empty.
	DataDir string
	// ClientPort and PeerPort of the embedded etcd, on 127.0.0.1; 0 picks
	// a free port.
	ClientPort, PeerPort int
	// Prefix of every key; DefaultPrefix when empty. It must start and end
	// with "/". Several Fulcrum installations can share one etcd cluster
	// under different prefixes.
	Prefix string
	// IPAM gives the VIP and port pools; empty fields take the defaults
	// (127.0.1.0/24 and 30000-32767).
	IPAM ipam.Options
	// Validate tunes validation of applies (the control plane normally
	// receives inline PEM and leaves CheckFiles off).
	Validate api.ValidateOptions
	// Logger receives etcd's warnings and errors; nil discards them.
	Logger *slog.Logger
	// RequestTimeout bounds every etcd request the store makes, so that a
	// cluster without quorum yields ErrUnavailable instead of a hang;
	// DefaultRequestTimeout when zero.
	RequestTimeout time.Duration
	// DialTimeout bounds connecting to etcd; DefaultDialTimeout when zero.
	DialTimeout time.Duration
}

// Store is Fulcrum's configuration store. All its methods are safe for
// concurrent use.
type Store struct {
	cli       *clientv3.Client
	etcd      *embed.Etcd // nil with external endpoints
	clientURL string
	k         keys
	ipam      ipam.Options
	validate  api.ValidateOptions
	timeout   time.Duration
	log       *slog.Logger

	// applyMu serialises this process's mutations: they would only lose
	// compare-and-swap rounds against each other. Other replicas are kept
	// out by the compare on the counter's revision, not by this.
	applyMu chan struct{}
	// lostRounds counts compare-and-swap rounds lost to other writers.
	lostRounds atomic.Int64

	ctx    context.Context // cancelled by Close, ends watches
	cancel context.CancelFunc
	mu     sync.Mutex // guards closed and wg.Add against Close
	closed bool
	wg     sync.WaitGroup
	once   sync.Once
}

// Open connects to etcd (starting the embedded one first if so configured)
// and checks that it answers. The caller must Close the store.
func Open(ctx context.Context, opt Options) (*Store, error) {
	if err := opt.fill(); err != nil {
		return nil, err
	}
	s := &Store{k: keys{opt.Prefix}, ipam: opt.IPAM, validate: opt.Validate, timeout: opt.RequestTimeout,
		log: opt.Logger, applyMu: make(chan struct{}, 1)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	endpoints := opt.Endpoints
	if len(endpoints) == 0 {
		e, err := startEmbedded(opt)
		if err != nil {
			return nil, err
		}
		s.etcd = e
		s.clientURL = "http://" + e.Clients[0].Addr().String()
		endpoints = []string{s.clientURL}
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:          endpoints,
		DialTimeout:        opt.DialTimeout,
		Logger:             zapToSlog(opt.Logger, "etcd-client"),
		MaxCallSendMsgSize: maxRequestBytes + 1<<20,
		// Keepalives notice a dead member behind a silent connection, so
		// the client moves to another endpoint.
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
	})
	if err != nil {
		s.closeEmbedded()
		return nil, fmt.Errorf("store: connecting to etcd %v: %w: %w", endpoints, ErrUnavailable, err)
	}
	s.cli = cli
	// One read proves the endpoints are etcd and answer with quorum, so a
	// wrong --etcd flag fails at startup rather than at the first apply.
	if _, err := s.get(ctx, s.k.counter()); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: etcd %v does not answer: %w", endpoints, err)
	}
	return s, nil
}

func (o *Options) fill() error {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if !strings.HasPrefix(o.Prefix, "/") || !strings.HasSuffix(o.Prefix, "/") {
		return fmt.Errorf("store: prefix %q must start and end with /", o.Prefix)
	}
	if len(o.Endpoints) == 0 && o.DataDir == "" {
		return errors.New("store: give etcd endpoints or a data directory for the embedded etcd")
	}
	o.IPAM = o.IPAM.WithDefaults()
	if err := o.IPAM.Validate(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	return nil
}

// startEmbedded runs a single-member etcd on loopback.
func startEmbedded(opt Options) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Name = "fulcrum"
	cfg.Dir = opt.DataDir
	client := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(opt.ClientPort)}
	peer := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(opt.PeerPort)}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zapToSlog(opt.Logger, "etcd"))
	// A single member has nobody to wait for: short ticks make it leader
	// in a fraction of a second instead of two.
	cfg.TickMs, cfg.ElectionMs = 50, 500
	cfg.EnableGRPCGateway = false // no JSON gateway: one API surface is enough
	cfg.MaxRequestBytes, cfg.MaxTxnOps = maxRequestBytes, maxTxnOps
	// Fulcrum's history lives in its own keys, not in etcd's MVCC history,
	// so etcd may compact freely; health writes would otherwise grow the
	// database without bound.
	cfg.AutoCompactionMode, cfg.AutoCompactionRetention = embed.CompactorModePeriodic, "1h"
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("store: starting embedded etcd in %s: %w", opt.DataDir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("store: embedded etcd in %s: %w", opt.DataDir, err)
	case <-time.After(embeddedStartTimeout):
		e.Server.Stop()
		e.Close()
		return nil, fmt.Errorf("store: embedded etcd in %s not ready after %v", opt.DataDir, embeddedStartTimeout)
	}
}

// Close stops watches, disconnects, and stops the embedded etcd. It is
// safe to call more than once.
func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
		s.wg.Wait()
		err = s.cli.Close()
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		s.closeEmbedded()
	})
	return err
}

func (s *Store) closeEmbedded() {
	if s.etcd != nil {
		s.etcd.Close()
	}
}

// Client returns the etcd client, for leader election
// (go.etcd.io/etcd/client/v3/concurrency) and leases. Do not write under
// the store's prefix with it.
func (s *Store) Client() *clientv3.Client { return s.cli }

// ClientURL returns the embedded etcd's client URL
// ("http://127.0.0.1:PORT"), or "" with external endpoints.
func (s *Store) ClientURL() string { return s.clientURL }

// Prefix returns the key prefix.
func (s *Store) Prefix() string { return s.k.prefix }

// opCtx bounds one etcd request and requires the member to have a leader,
// so that a member cut off from the majority fails fast with "no leader"
// instead of waiting out the timeout.
func (s *Store) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	return clientv3.WithRequireLeader(ctx), cancel
}

// get reads one key; a missing key gives a nil value and no error.
func (s *Store) get(ctx context.Context, key string) (*getResult, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return nil, etcdErr("get "+key, err)
	}
	r := &getResult{rev: resp.Header.Revision}
	if len(resp.Kvs) > 0 {
		r.value, r.modRev = resp.Kvs[0].Value, resp.Kvs[0].ModRevision
	}
	return r, nil
}

type getResult struct {
	value  []byte
	modRev int64
	rev    int64 // etcd revision of the read
}

// txn runs a transaction with the store's bounds.
func (s *Store) txn(ctx context.Context, op string, cmp []clientv3.Cmp, then ...clientv3.Op) (*clientv3.TxnResponse, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	resp, err := s.cli.Txn(ctx).If(cmp...).Then(then...).Commit()
	if err != nil {
		return nil, etcdErr(op, err)
	}
	return resp, nil
}
