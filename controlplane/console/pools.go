package console

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/apiclient"
)

// Page sizes of the pools table; the default is the first.
var pageSizes = []int{50, 25, 100, 200, 500, 1000}

// Health summaries of a pool, for the table and its filter.
const (
	healthOK       = "healthy"
	healthDegraded = "degraded"
	healthDown     = "down"
	healthUnknown  = "unknown"
	healthEmpty    = "empty"
	// healthProblems is a filter only: degraded or down.
	healthProblems = "problems"
)

var (
	protocolFilters = []string{api.ProtocolHTTP, api.ProtocolHTTPS, api.ProtocolGRPC, api.ProtocolTCP, api.ProtocolUDP, "none"}
	healthFilters   = []string{healthProblems, healthDown, healthDegraded, healthOK, healthUnknown, healthEmpty}
)

// poolRow is one line of the pools table.
type poolRow struct {
	Name, VIP           string
	Port                int
	Protocol, Algorithm string
	Healthy, Down       int
	Total               int
	Health              string
	UpdatedBy           string
	UpdatedAt           string
}

func rowOf(p *api.Pool) poolRow {
	row := poolRow{Name: p.Metadata.Name, Algorithm: p.Spec.Algorithm, Total: len(p.Spec.Members),
		UpdatedBy: p.Metadata.UpdatedBy, UpdatedAt: p.Metadata.UpdatedAt}
	if fe := p.Spec.Frontend; fe != nil {
		row.VIP, row.Port, row.Protocol = fe.Address, fe.Port, fe.Protocol
	}
	if st := p.Status; st != nil {
		if row.VIP == "" {
			row.VIP = st.Address
		}
		if row.Port == 0 {
			row.Port = st.Port
		}
		for _, m := range st.Members {
			switch m.Health {
			case api.HealthHealthy:
				row.Healthy++
			case api.HealthUnhealthy:
				row.Down++
			}
		}
	}
	switch {
	case row.Total == 0:
		row.Health = healthEmpty
	case row.Down > 0 && row.Healthy == 0:
		row.Health = healthDown
	case row.Down > 0:
		row.Health = healthDegraded
	case row.Healthy > 0:
		row.Health = healthOK
	default:
		row.Health = healthUnknown
	}
	return row
}

// listQuery is the pools table's search, filters and page.
type listQuery struct {
	Q, Protocol, Health string
	Page, Size          int
}

func parseListQuery(v url.Values) listQuery {
	q := listQuery{Q: strings.TrimSpace(v.Get("q")), Protocol: v.Get("protocol"), Health: v.Get("health"), Size: pageSizes[0]}
	if !slices.Contains(protocolFilters, q.Protocol) {
		q.Protocol = ""
	}
	if !slices.Contains(healthFilters, q.Health) {
		q.Health = ""
	}
	if n, err := strconv.Atoi(v.Get("size")); err == nil && slices.Contains(pageSizes, n) {
		q.Size = n
	}
	q.Page, _ = strconv.Atoi(v.Get("page"))
	q.Page = max(q.Page, 1)
	return q
}

// Encode returns the query string of the same search at another page.
func (q listQuery) Encode(page int) string {
	v := url.Values{}
	for k, s := range map[string]string{"q": q.Q, "protocol": q.Protocol, "health": q.Health} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Size != pageSizes[0] {
		v.Set("size", strconv.Itoa(q.Size))
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	return v.Encode()
}

func (q listQuery) match(r *poolRow) bool {
	if q.Q != "" && !strings.Contains(r.Name, strings.ToLower(q.Q)) && !strings.Contains(r.VIP, q.Q) {
		return false
	}
	switch {
	case q.Protocol == "none" && r.Protocol != "":
		return false
	case q.Protocol != "" && q.Protocol != "none" && r.Protocol != q.Protocol:
		return false
	}
	switch q.Health {
	case "":
		return true
	case healthProblems:
		return r.Health == healthDown || r.Health == healthDegraded
	}
	return r.Health == q.Health
}

// poolList is the pools table: one page of the matching rows.
type poolList struct {
	Query                listQuery
	Rows                 []poolRow
	Total, Matched       int
	Page, Pages, From    int
	To                   int
	Sizes                []int
	Protocols, Healths   []string
	Rev                  int64
	FirstPage, PrevPage  string
	NextPage, LastPage   string
	FragmentURL, PageURL string
}

// listPools filters the view's rows and cuts one page. The rows are
// computed once per snapshot, so a request only compares strings.
func listPools(v *view, q listQuery) *poolList {
	l := &poolList{Query: q, Total: len(v.rows), Sizes: pageSizes, Protocols: protocolFilters, Healths: healthFilters, Rev: v.rev}
	matched := make([]int, 0, len(v.rows))
	for i := range v.rows {
		if q.match(&v.rows[i]) {
			matched = append(matched, i)
		}
	}
	l.Matched = len(matched)
	l.Pages = max((l.Matched+q.Size-1)/q.Size, 1)
	l.Page = min(q.Page, l.Pages)
	from := (l.Page - 1) * q.Size
	for _, i := range matched[from:min(from+q.Size, len(matched))] {
		l.Rows = append(l.Rows, v.rows[i])
	}
	l.From = from + 1
	l.To = from + len(l.Rows)
	link := func(p int) string { return "/pools?" + q.Encode(p) }
	if l.Page > 1 {
		l.FirstPage, l.PrevPage = link(1), link(l.Page-1)
	}
	if l.Page < l.Pages {
		l.NextPage, l.LastPage = link(l.Page+1), link(l.Pages)
	}
	l.PageURL = link(l.Page)
	l.FragmentURL = "/fragments/pools?" + q.Encode(l.Page)
	return l
}

// view returns the current snapshot, at least at the revision the
// request's rev parameter names (a page reached right after a change).
func (c *Console) view(r *http.Request) (*view, error) {
	rev, _ := strconv.ParseInt(r.URL.Query().Get("rev"), 10, 64)
	v := c.hub.waitFor(r.Context(), rev, 5*time.Second)
	if v == nil {
		return nil, &apiclient.Error{Status: http.StatusServiceUnavailable, Code: apiclient.CodeUnavailable,
			Message: "the configuration could not be read yet; try again shortly"}
	}
	return v, nil
}

func (c *Console) poolsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	v, err := c.view(r)
	if err != nil {
		return err
	}
	c.render(w, r, s, http.StatusOK, "pools", "Pools", listPools(v, parseListQuery(r.URL.Query())))
	return nil
}

func (c *Console) poolsTable(w http.ResponseWriter, r *http.Request, s *session) error {
	v, err := c.view(r)
	if err != nil {
		return err
	}
	c.renderFragment(w, r, s, "pools-table", listPools(v, parseListQuery(r.URL.Query())))
	return nil
}

// memberRow is one member with its health, for the pool page.
type memberRow struct {
	Address, Shown   string
	Weight           int
	Zone, State      string
	Health, Reason   string
	Successes        int64
	Failures         int64
	LastCheck, Since string
	// WeightError is a refused weight change, shown next to its field.
	WeightError string
}

// poolDetail is the pool page.
type poolDetail struct {
	Pool     *api.Pool
	Row      poolRow
	Members  []memberRow
	Check    string
	Written  int64 // the revision a change just wrote, for the notice
	Charts   chartsData
	Revision int64
}

func detailOf(p *api.Pool) *poolDetail {
	d := &poolDetail{Pool: p, Row: rowOf(p), Revision: p.Metadata.Revision}
	health := map[string]api.MemberStatus{}
	if p.Status != nil {
		for _, m := range p.Status.Members {
			health[m.Address] = m
		}
	}
	for _, m := range p.Spec.Members {
		row := memberRow{Address: m.Address, Shown: m.Address, Weight: m.Weight, Zone: m.Zone, State: m.State, Health: api.HealthUnknown}
		if m.Port != 0 && !strings.Contains(strings.TrimPrefix(m.Address, "["), ":") {
			row.Shown = m.Address + ":" + strconv.Itoa(m.Port)
		}
		h, ok := health[m.Address]
		if !ok {
			h, ok = health[row.Shown]
		}
		if ok {
			row.Health, row.Reason, row.Successes, row.Failures = h.Health, h.Reason, h.Successes, h.Failures
			row.LastCheck, row.Since = h.LastCheck, h.LastTransition
		}
		d.Members = append(d.Members, row)
	}
	if hc := p.Spec.HealthCheck; hc != nil {
		d.Check = hc.Type
		if hc.Type != api.CheckNone {
			d.Check += " every " + hc.Interval.String() + ", timeout " + hc.Timeout.String() +
				", rise " + strconv.Itoa(hc.Rise) + ", fall " + strconv.Itoa(hc.Fall)
			if hc.Type == api.CheckHTTP && hc.Path != "" {
				d.Check += ", path " + hc.Path
			}
		}
	}
	return d
}

func (c *Console) poolDetail(r *http.Request) (*poolDetail, error) {
	v, err := c.view(r)
	if err != nil {
		return nil, err
	}
	name := r.PathValue("name")
	p := v.pool(name)
	if p == nil {
		return nil, &apiclient.Error{Status: http.StatusNotFound, Code: apiclient.CodeNotFound,
			Message: "There is no pool " + strconv.Quote(name) + " (it may have been deleted: see History)."}
	}
	d := detailOf(p)
	d.Written, _ = strconv.ParseInt(r.URL.Query().Get("rev"), 10, 64)
	return d, nil
}

func (c *Console) poolPage(w http.ResponseWriter, r *http.Request, s *session) error {
	d, err := c.poolDetail(r)
	if err != nil {
		return err
	}
	d.Charts = c.chartsOf(d.Pool.Metadata.Name)
	c.render(w, r, s, http.StatusOK, "pool", "Pool "+d.Pool.Metadata.Name, d)
	return nil
}

func (c *Console) membersFragment(w http.ResponseWriter, r *http.Request, s *session) error {
	d, err := c.poolDetail(r)
	if err != nil {
		return err
	}
	c.renderFragment(w, r, s, "members", d)
	return nil
}

// memberAction drains, disables or enables a member, or sets its weight,
// through the API.
func (c *Console) memberAction(w http.ResponseWriter, r *http.Request, s *session) error {
	pool, addr, act := r.PathValue("name"), r.PathValue("address"), r.PathValue("action")
	cl := c.client(r, s)
	var rev int64
	switch act {
	case apiclient.ActionDrain, apiclient.ActionDisable, apiclient.ActionEnable:
		res, err := cl.SetMemberState(r.Context(), pool, addr, act)
		if err != nil {
			return err
		}
		rev = res.Revision
	case "weight":
		var err error
		if rev, err = c.setWeight(w, r, s, pool, addr); err != nil || rev < 0 {
			return err
		}
	default:
		return &apiclient.Error{Status: http.StatusNotFound, Code: apiclient.CodeNotFound, Message: "unknown member action " + strconv.Quote(act)}
	}
	c.hub.waitFor(r.Context(), rev, 3*time.Second)
	target := "/pools/" + url.PathEscape(pool)
	if rev > 0 {
		target += "?rev=" + strconv.FormatInt(rev, 10)
	}
	http.Redirect(w, r, target+"#members", http.StatusSeeOther)
	return nil
}

// setWeight changes one member's weight with a PUT of the whole pool,
// conditional on the revision the page showed. A refused weight is shown
// next to its field (and -1 returned).
func (c *Console) setWeight(w http.ResponseWriter, r *http.Request, s *session, pool, addr string) (int64, error) {
	rev, _ := strconv.ParseInt(r.PostFormValue("revision"), 10, 64)
	weight, werr := strconv.Atoi(strings.TrimSpace(r.PostFormValue("weight")))
	d, err := c.poolDetail(r)
	if err != nil {
		return 0, err
	}
	p := api.Redact(d.Pool).(*api.Pool) // "<redacted>" keeps the stored secret
	p.Status = nil
	i := slices.IndexFunc(p.Spec.Members, func(m api.Member) bool { return m.Address == addr })
	if i < 0 {
		return 0, &apiclient.Error{Status: http.StatusNotFound, Code: apiclient.CodeNotFound, Message: "pool " + pool + " has no member " + addr}
	}
	msg := ""
	if werr != nil {
		msg = "must be a whole number"
	} else {
		p.Spec.Members[i].Weight = weight
		o, err := c.client(r, s).Put(r.Context(), p, apiclient.PutOptions{IfMatch: rev})
		var ae *apiclient.Error
		switch {
		case err == nil:
			return o.GetMetadata().Revision, nil
		case asAPIError(err, &ae) && ae.Code == apiclient.CodeInvalid:
			msg = detailsText(ae.Details)
		case asAPIError(err, &ae) && ae.Code == apiclient.CodePreconditionFailed:
			msg = "the pool changed since this page was loaded; the page now shows the current pool — try again"
		default:
			return 0, err
		}
	}
	d, err = c.poolDetail(r)
	if err != nil {
		return 0, err
	}
	for j := range d.Members {
		if d.Members[j].Address == addr {
			d.Members[j].WeightError = msg
		}
	}
	d.Charts = c.chartsOf(pool)
	c.render(w, r, s, formStatus, "pool", "Pool "+pool, d)
	return -1, nil
}
