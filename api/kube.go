package api

import (
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
)

// HealthCheckTypeAnnotation on an Endpoints object selects the health check
// of the Pool it becomes (http, tcp or mysql).
const HealthCheckTypeAnnotation = "healthCheckType"

// HealthCheckPathAnnotation optionally sets the path of an http check.
const HealthCheckPathAnnotation = "healthCheckPath"

// KubeObject is a Kubernetes Service or Endpoints.
type KubeObject interface {
	kubeKind() string
	kubeName() string
}

// KubeMeta is the part of Kubernetes metadata Fulcrum reads. Other fields
// (uid, resourceVersion, managedFields, ...) are accepted and ignored.
type KubeMeta struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// KubeService is the part of a v1 Service Fulcrum reads.
type KubeService struct {
	TypeMeta `json:",inline"`
	Metadata KubeMeta        `json:"metadata"`
	Spec     KubeServiceSpec `json:"spec"`
}

// KubeServiceSpec is the part of a Service spec Fulcrum reads.
type KubeServiceSpec struct {
	Type           string            `json:"type,omitempty"`
	Ports          []KubeServicePort `json:"ports"`
	LoadBalancerIP string            `json:"loadBalancerIP,omitempty"`
}

// KubeServicePort is one port of a Service.
type KubeServicePort struct {
	Name        string      `json:"name,omitempty"`
	Protocol    string      `json:"protocol,omitempty"`
	AppProtocol string      `json:"appProtocol,omitempty"`
	Port        int         `json:"port"`
	TargetPort  IntOrString `json:"targetPort,omitempty"`
	NodePort    int         `json:"nodePort,omitempty"`
}

// KubeEndpoints is the part of a v1 Endpoints Fulcrum reads.
type KubeEndpoints struct {
	TypeMeta `json:",inline"`
	Metadata KubeMeta       `json:"metadata"`
	Subsets  []KubeEPSubset `json:"subsets,omitempty"`
}

// KubeEPSubset is a set of addresses sharing a set of ports.
type KubeEPSubset struct {
	Addresses         []KubeEPAddress `json:"addresses,omitempty"`
	NotReadyAddresses []KubeEPAddress `json:"notReadyAddresses,omitempty"`
	Ports             []KubeEPPort    `json:"ports,omitempty"`
}

// KubeEPAddress is one endpoint address.
type KubeEPAddress struct {
	IP       string `json:"ip"`
	Hostname string `json:"hostname,omitempty"`
	NodeName string `json:"nodeName,omitempty"`
}

// KubeEPPort is one endpoint port.
type KubeEPPort struct {
	Name     string `json:"name,omitempty"`
	Port     int    `json:"port"`
	Protocol string `json:"protocol,omitempty"`
}

// IntOrString is Kubernetes' int-or-string (a targetPort may be a name).
type IntOrString struct {
	Int    int
	String string
}

// UnmarshalJSON accepts a number or a string.
func (v *IntOrString) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &v.Int); err == nil {
		return nil
	}
	if err := json.Unmarshal(b, &v.String); err != nil {
		return fmt.Errorf("must be a port number or a port name")
	}
	return nil
}

// MarshalJSON writes whichever form is set.
func (v IntOrString) MarshalJSON() ([]byte, error) {
	if v.String != "" {
		return json.Marshal(v.String)
	}
	return json.Marshal(v.Int)
}

func (s *KubeService) kubeKind() string   { return "Service" }
func (s *KubeService) kubeName() string   { return s.Metadata.Name }
func (e *KubeEndpoints) kubeKind() string { return "Endpoints" }
func (e *KubeEndpoints) kubeName() string { return e.Metadata.Name }

// kubePair is a Service and its Endpoints, with where each came from.
type kubePair struct {
	svc    *KubeService
	svcSrc Source
	eps    *KubeEndpoints
	epsSrc Source
}

// convertKube turns every Service + Endpoints pair into Pools. A Service
// without its Endpoints, or the reverse, is an error naming the missing object.
func convertKube(docs []Document, list *ErrorList) []Document {
	pairs := map[string]*kubePair{}
	var names []string
	for _, d := range docs {
		if d.Kube == nil {
			continue
		}
		name := d.Kube.kubeName()
		p := pairs[name]
		if p == nil {
			p = &kubePair{}
			pairs[name] = p
			names = append(names, name)
		}
		e := errs{src: d.Source, ref: d.Kube.kubeKind() + "/" + name, list: list}
		switch o := d.Kube.(type) {
		case *KubeService:
			if p.svc != nil {
				e.add("metadata.name", "duplicate Service %q (also in %s)", name, srcString(p.svcSrc))
				continue
			}
			p.svc, p.svcSrc = o, d.Source
		case *KubeEndpoints:
			if p.eps != nil {
				e.add("metadata.name", "duplicate Endpoints %q (also in %s)", name, srcString(p.epsSrc))
				continue
			}
			p.eps, p.epsSrc = o, d.Source
		}
	}
	sort.Strings(names)
	var out []Document
	for _, name := range names {
		p := pairs[name]
		switch {
		case p.eps == nil:
			errs{src: p.svcSrc, ref: "Service/" + name, list: list}.add("", "Endpoints %q is missing: a Service becomes a Pool only with the Endpoints of the same name", name)
		case p.svc == nil:
			errs{src: p.epsSrc, ref: "Endpoints/" + name, list: list}.add("", "Service %q is missing: Endpoints become a Pool only with the Service of the same name", name)
		default:
			out = append(out, p.pools(list)...)
		}
	}
	return out
}

func srcString(s Source) string {
	return fmt.Sprintf("%s document %d", s.File, s.Document)
}

// pools converts one pair. A single-port Service becomes one Pool named after
// it whose members are every ready address × every endpoint port; a
// multi-port Service becomes one Pool per port, named NAME-PORTNAME, whose
// members use the endpoint port of the same name.
func (p *kubePair) pools(list *ErrorList) []Document {
	svc, eps := p.svc, p.eps
	se := errs{src: p.svcSrc, ref: "Service/" + svc.Metadata.Name, list: list}
	ee := errs{src: p.epsSrc, ref: "Endpoints/" + eps.Metadata.Name, list: list}
	if len(svc.Spec.Ports) == 0 {
		se.add("spec.ports", "a Service needs at least one port")
		return nil
	}
	check, ok := kubeHealthCheck(ee, eps.Metadata.Annotations)
	if !ok {
		return nil
	}
	var out []Document
	for i, sp := range svc.Spec.Ports {
		checkPort(se, index("spec.ports", i)+".port", sp.Port, false)
		checkPort(se, index("spec.ports", i)+".nodePort", sp.NodePort, true)
		name := svc.Metadata.Name
		if len(svc.Spec.Ports) > 1 {
			if sp.Name == "" {
				se.add(index("spec.ports", i)+".name", "required when a Service has several ports")
				continue
			}
			name += "-" + sp.Name
		}
		pool := &Pool{
			TypeMeta: TypeMeta{APIVersion: APIVersion, Kind: KindPool},
			Metadata: Metadata{Name: name, Labels: svc.Metadata.Labels, Annotations: map[string]string{
				"fulcrum/source": fmt.Sprintf("v1/Service/%s + v1/Endpoints/%s", svc.Metadata.Name, eps.Metadata.Name),
			}},
		}
		pool.Spec.Frontend = kubeFrontend(svc, sp)
		pool.Spec.HealthCheck = check
		pool.Spec.Members = kubeMembers(ee, eps, sp, len(svc.Spec.Ports) > 1)
		if len(pool.Spec.Members) == 0 {
			pool.Spec.Members = []Member{}
		}
		out = append(out, Document{Source: p.svcSrc, Object: pool})
	}
	return out
}

func kubeHealthCheck(e errs, ann map[string]string) (*HealthCheck, bool) {
	typ, ok := ann[HealthCheckTypeAnnotation]
	if !ok {
		return nil, true
	}
	switch typ {
	case CheckHTTP, CheckTCP, CheckMySQL:
	default:
		e.add(key("metadata.annotations", HealthCheckTypeAnnotation), "%q is not a health-check type: use http, tcp or mysql", typ)
		return nil, false
	}
	hc := &HealthCheck{Type: typ}
	if typ == CheckHTTP {
		hc.Path = ann[HealthCheckPathAnnotation]
	}
	return hc, true
}

func kubeFrontend(svc *KubeService, sp KubeServicePort) *Frontend {
	fe := &Frontend{Port: sp.Port, Address: svc.Spec.LoadBalancerIP, Protocol: ProtocolTCP}
	if sp.NodePort != 0 {
		fe.Port = sp.NodePort
	}
	if strings.EqualFold(sp.Protocol, "UDP") {
		fe.Protocol = ProtocolUDP
	}
	switch strings.ToLower(sp.AppProtocol) {
	case "http", "kubernetes.io/h2c":
		fe.Protocol = ProtocolHTTP
	case "grpc":
		fe.Protocol = ProtocolGRPC
	}
	return fe
}

func kubeMembers(e errs, eps *KubeEndpoints, sp KubeServicePort, byName bool) []Member {
	var out []Member
	for si, ss := range eps.Subsets {
		for pi, port := range ss.Ports {
			if byName && port.Name != sp.Name {
				continue
			}
			checkPort(e, index(index("subsets", si)+".ports", pi)+".port", port.Port, false)
			for ai, a := range ss.Addresses {
				checkIP(e, index(index("subsets", si)+".addresses", ai)+".ip", a.IP)
				out = append(out, Member{Address: net.JoinHostPort(a.IP, strconv.Itoa(port.Port))})
			}
		}
	}
	return out
}
