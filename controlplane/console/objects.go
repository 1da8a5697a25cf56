package console

import (
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/apiclient"
)

// listenerRow is one line of the listeners table.
type listenerRow struct {
	Name, Address, Protocol string
	Port, Certificates      int
	Routes                  int
	DefaultPool             string
	UpdatedBy, UpdatedAt    string
}

// routeRow is one line of the routes table.
type routeRow struct {
	Name, Listener, Hosts, Match, Target string
	UpdatedBy, UpdatedAt                 string
}

func listenerRows(cfg *api.Config) []listenerRow {
	routes := map[string]int{}
	for _, r := range cfg.Routes {
		routes[r.Spec.Listener]++
	}
	out := make([]listenerRow, 0, len(cfg.Listeners))
	for _, l := range cfg.Listeners {
		row := listenerRow{Name: l.Metadata.Name, Address: l.Spec.Address, Port: l.Spec.Port, Protocol: l.Spec.Protocol,
			Routes: routes[l.Metadata.Name], DefaultPool: l.Spec.DefaultPool, UpdatedBy: l.Metadata.UpdatedBy, UpdatedAt: l.Metadata.UpdatedAt}
		if st := l.Status; st != nil {
			if row.Address == "" {
				row.Address = st.Address
			}
			if row.Port == 0 {
				row.Port = st.Port
			}
		}
		if l.Spec.TLS != nil {
			row.Certificates = len(l.Spec.TLS.Certificates)
		}
		out = append(out, row)
	}
	return out
}

func routeRows(cfg *api.Config) []routeRow {
	out := make([]routeRow, 0, len(cfg.Routes))
	for _, r := range cfg.Routes {
		row := routeRow{Name: r.Metadata.Name, Listener: r.Spec.Listener, Hosts: strings.Join(r.Spec.Hosts, ", "),
			Match: "any path", UpdatedBy: r.Metadata.UpdatedBy, UpdatedAt: r.Metadata.UpdatedAt}
		if m := r.Spec.Match; m != nil && m.Path != nil {
			switch p := m.Path; {
			case p.Exact != "":
				row.Match = "path = " + p.Exact
			case p.Prefix != "":
				row.Match = "path under " + p.Prefix
			case p.Regex != "":
				row.Match = "path ~ " + p.Regex
			}
		}
		switch {
		case len(r.Spec.Backends) > 0:
			var parts []string
			for _, b := range r.Spec.Backends {
				parts = append(parts, b.Pool+" ×"+strconv.Itoa(b.W()))
			}
			row.Target = strings.Join(parts, ", ")
		case r.Spec.Redirect != nil:
			row.Target = "redirect"
		case r.Spec.DirectResponse != nil:
			row.Target = "answer " + strconv.Itoa(r.Spec.DirectResponse.Status)
		}
		out = append(out, row)
	}
	return out
}

func (c *Console) listenersPage(w http.ResponseWriter, r *http.Request, s *session) error {
	v, err := c.view(r)
	if err != nil {
		return err
	}
	c.render(w, r, s, http.StatusOK, "listeners", "Listeners", listenerRows(v.cfg))
	return nil
}

func (c *Console) listenersTable(w http.ResponseWriter, r *http.Request, s *session) error {
	v, err := c.view(r)
	if err != nil {
		return err
	}
	c.renderFragment(w, r, s, "listeners-table", listenerRows(v.cfg))
	return nil
}

func (c *Console) routesPage(w http.ResponseWriter, r *http.Request, s *session) error {
	v, err := c.view(r)
	if err != nil {
		return err
	}
	c.render(w, r, s, http.StatusOK, "routes", "Routes", routeRows(v.cfg))
	return nil
}

func (c *Console) routesTable(w http.ResponseWriter, r *http.Request, s *session) error {
	v, err := c.view(r)
	if err != nil {
		return err
	}
	c.renderFragment(w, r, s, "routes-table", routeRows(v.cfg))
	return nil
}

// proxies lists the data planes as the API does (GET /api/v1/proxies:
// the control plane's own xDS view and the statuses in the store).
func (c *Console) proxies(r *http.Request, s *session) ([]apiclient.Proxy, error) {
	list, err := c.client(r, s).Proxies(r.Context())
	if err != nil {
		return nil, err
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list, nil
}

func (c *Console) proxiesPage(w http.ResponseWriter, r *http.Request, s *session) error {
	list, err := c.proxies(r, s)
	if err != nil {
		return err
	}
	c.render(w, r, s, http.StatusOK, "proxies", "Data planes", list)
	return nil
}

func (c *Console) proxiesTable(w http.ResponseWriter, r *http.Request, s *session) error {
	list, err := c.proxies(r, s)
	if err != nil {
		return err
	}
	c.renderFragment(w, r, s, "proxies-table", list)
	return nil
}
