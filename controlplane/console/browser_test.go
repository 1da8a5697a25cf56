package console

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/apiclient"
	"github.com/fulcrumlb/fulcrum/controlplane/store"
	"github.com/fulcrumlb/fulcrum/internal/testutil"
)

// artifacts is where the browser test saves its screenshots (gitignored).
var artifacts = filepath.Join("..", "..", "test", "artifacts", "console")

// uiTest drives one browser through the console.
type uiTest struct {
	t      *testing.T
	e      *env
	chrome *testutil.Chromium
}

// run runs chromedp actions, bounded in time.
func (u *uiTest) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.chrome.Ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		u.t.Fatalf("%s: %v (browser console: %v)", what, err, u.chrome.Errors())
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](u *uiTest, expr string) T {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.chrome.Ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		u.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition in the page, without reloading it.
func (u *uiTest) waitFor(what, expr string, limit time.Duration) {
	u.t.Helper()
	deadline := time.Now().Add(limit)
	safe := "(() => { try { return !!(" + expr + ") } catch (e) { return false } })()" // the page may be loading
	for !eval[bool](u, safe) {
		if time.Now().After(deadline) {
			html := eval[string](u, "document.querySelector('main') ? document.querySelector('main').innerText : document.body.innerText")
			u.t.Fatalf("%s: not within %v; the page shows:\n%s", what, limit, html)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// shot saves a screenshot of the whole page as PNG.
func (u *uiTest) shot(name string) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.chrome.Ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		u.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(artifacts, name+".png"), png, 0o644); err != nil {
		u.t.Fatal(err)
	}
}

func (u *uiTest) open(path string) {
	u.t.Helper()
	u.run("open "+path, chromedp.Navigate(u.e.hs.URL+path))
}

// TestBrowserOnCallFlow is the on-call's path through the console in a
// real Chromium, against a real store, API, health-check replica, data
// plane and backends: sign in with the bootstrap token, create a pool with
// the form (an error first, shown at its field), see its members healthy,
// stop a backend and watch its member go down with its reason without a
// reload, drain a member, read the diff in the history, roll it back after
// confirming, sign out. No errors in the browser's console; every change
// in the operation log under the token's name; screenshots of each page at
// 1280 px and at a phone's 390 px in test/artifacts/console/.
func TestBrowserOnCallFlow(t *testing.T) {
	chrome := testutil.StartChromium(t, 1280, 900)
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	dp := startDataPlane(t)
	e := newEnv(t, func(o *Options) {
		o.MetricsTargets = []string{dp.admin.Addr()}
		o.ScrapeInterval = time.Second
		o.Heartbeat = 2 * time.Second
	})
	dp.follow(t, e.st)
	startHealth(t, e.st)
	one, two := startBackend(t, "one"), startBackend(t, "two")
	port := testutil.FreePort(t)
	traffic(t, "http://127.0.0.1:"+strconv.Itoa(port)+"/")
	u := &uiTest{t: t, e: e, chrome: chrome}
	first := e.revision() + 1

	u.signIn()
	u.createPool(port, one.addr(), two.addr())
	u.waitFor("both members healthy (live)", memberHealth(one.addr())+` === "healthy" && `+memberHealth(two.addr())+` === "healthy"`, 20*time.Second)
	u.waitFor("the charts have points", `document.querySelectorAll("#chart-rps polyline").length > 0`, 20*time.Second)
	u.shot("pool-1280")

	eval[int](u, "window.fulcrumMark = 42")
	two.stop()
	u.waitFor("the stopped backend's member down with a reason", memberHealth(two.addr())+` === "unhealthy" && `+
		`document.querySelector('[data-member="`+two.addr()+`"] [data-reason]').textContent.trim() !== ""`, 20*time.Second)
	if eval[int](u, "window.fulcrumMark || 0") != 42 {
		t.Fatal("the page was reloaded: the member's fall was not shown live")
	}
	u.shot("pool-member-down-1280")

	u.drain(one.addr())
	u.historyAndRollback(one.addr())
	u.phoneShots()
	u.signOut()

	if errs := chrome.Errors(); len(errs) > 0 {
		t.Errorf("the browser's console has errors:\n%s", strings.Join(errs, "\n"))
	}
	assertAttributed(t, e, first, apiclient.RoleAdmin, []store.Action{store.ActionApply, store.ActionMemberState, store.ActionRollback})
}

func memberHealth(addr string) string {
	return `(document.querySelector('[data-member="` + addr + `"] [data-health]') || {}).textContent`
}

func (u *uiTest) signIn() {
	u.open("/pools")
	u.run("the login page", chromedp.WaitVisible(chromedp.ID("token")))
	if loc := eval[string](u, "location.pathname + location.search"); loc != "/login?next=%2Fpools" {
		u.t.Fatalf("without a session /pools went to %s", loc)
	}
	u.shot("login-1280")
	u.run("sign in", chromedp.SendKeys(chromedp.ID("token"), u.e.secrets[apiclient.RoleAdmin]),
		chromedp.Click(chromedp.ID("login-submit")), chromedp.WaitVisible(chromedp.ID("new-pool")))
	u.shot("pools-empty-1280")
}

// createPool fills the form with a bad member port first, checks that the
// error stands next to that member, previews, then saves.
func (u *uiTest) createPool(port int, one, two string) {
	u.run("open the form", chromedp.Click(chromedp.ID("new-pool")), chromedp.WaitVisible(chromedp.ID("f-metadata-name")))
	u.run("fill the form",
		chromedp.SendKeys(chromedp.ID("f-metadata-name"), "web"),
		chromedp.SendKeys(chromedp.ID("f-spec-frontend-address"), "127.0.0.1"),
		chromedp.SendKeys(chromedp.ID("f-spec-frontend-port"), strconv.Itoa(port)),
		chromedp.SendKeys(chromedp.ID("f-spec-members-0-address"), one),
		chromedp.SendKeys(chromedp.ID("f-spec-members-1-address"), "127.0.0.1:70000"),
		chromedp.SetValue(chromedp.ID("f-spec-healthCheck-interval"), "500ms"),
		chromedp.SetValue(chromedp.ID("f-spec-healthCheck-timeout"), "400ms"),
		chromedp.SetValue(chromedp.ID("f-spec-healthCheck-rise"), "1"),
		chromedp.SetValue(chromedp.ID("f-spec-healthCheck-fall"), "1"),
		chromedp.Click(chromedp.ID("save-pool")),
		chromedp.WaitVisible(chromedp.ID("error-summary")))
	msg := eval[string](u, `document.getElementById("f-spec-members-1-address-err").textContent`)
	if !strings.Contains(msg, "port") || eval[string](u, `document.getElementById("f-spec-members-1-address").getAttribute("aria-invalid")`) != "true" {
		u.t.Fatalf("the bad port's error is not at its member's field: %q", msg)
	}
	u.shot("pool-form-errors-1280")
	u.run("fix and preview",
		chromedp.SetValue(chromedp.ID("f-spec-members-1-address"), two),
		chromedp.Click(chromedp.ID("preview-pool")),
		chromedp.WaitVisible(chromedp.ID("preview")))
	if n := eval[int](u, `document.querySelectorAll(".error-summary").length`); n != 0 {
		u.t.Fatalf("the preview shows %d error summaries", n)
	}
	u.shot("pool-form-preview-1280")
	u.run("save", chromedp.Click(chromedp.ID("save-pool")), chromedp.WaitVisible(chromedp.ID("members-live")))
}

func (u *uiTest) drain(addr string) {
	// A click in JavaScript: chromedp's Click resolves the node first, and the
	// live members table may replace it in between.
	eval[bool](u, `document.getElementById("drain-`+fieldID(addr)+`").click() || true`)
	u.waitFor("the member drained", `document.querySelector('[data-member="`+addr+`"] [data-state]').textContent === "drain"`, 10*time.Second)
	if st := u.e.pool("web").Spec.Members[0].State; st != api.StateDrain {
		u.t.Fatalf("the store says the member is %q", st)
	}
}

// historyAndRollback opens the drain's diff from the pool's operation
// log, and undoes it after the confirmation page.
func (u *uiTest) historyAndRollback(addr string) {
	u.run("operation log", chromedp.Click(chromedp.ID("pool-history")), chromedp.WaitVisible(chromedp.CSS("table.history")))
	u.shot("history-1280")
	u.run("diff", chromedp.Click(chromedp.CSS("table.history tbody tr:first-child a")), chromedp.WaitVisible(chromedp.CSS("pre.diff")))
	if !eval[bool](u, `[...document.querySelectorAll(".d-add")].some(e => e.textContent.includes("state: drain"))`) {
		u.t.Fatal("the diff of the drain does not show state: drain")
	}
	u.shot("revision-diff-1280")
	u.run("rollback", chromedp.Click(chromedp.CSS(`a[id^="undo-"]`)), chromedp.WaitVisible(chromedp.ID("confirm-rollback")))
	u.shot("rollback-confirm-1280")
	if st := u.e.pool("web").Spec.Members[0].State; st != api.StateDrain {
		u.t.Fatalf("opening the confirmation changed the member to %q", st)
	}
	u.run("confirm", chromedp.Click(chromedp.ID("confirm-rollback")), chromedp.WaitVisible(chromedp.ID("written")))
	if st := u.e.pool("web").Spec.Members[0].State; st != api.StateEnabled {
		u.t.Fatalf("after the rollback the member is %q", st)
	}
	u.open("/pools/web")
	u.waitFor("the member enabled again", `document.querySelector('[data-member="`+addr+`"] [data-state]').textContent === "enabled"`, 10*time.Second)
	u.yamlEdit()
	for _, p := range []string{"/listeners", "/routes", "/proxies", "/pools"} {
		u.open(p)
		u.run("open "+p, chromedp.WaitVisible(chromedp.CSS("table.list")))
		u.shot(strings.TrimPrefix(p, "/") + "-1280")
	}
}

// yamlEdit changes a weight in the YAML editor: preview (the diff), then
// apply what the preview showed.
func (u *uiTest) yamlEdit() {
	u.open("/yaml?kind=Pool&name=web")
	u.run("the YAML editor", chromedp.WaitVisible(chromedp.ID("yaml-text")))
	eval[string](u, `(() => { const t = document.getElementById("yaml-text"); t.value = t.value.replace("weight: 1", "weight: 3"); return t.value })()`)
	u.run("preview", chromedp.Click(chromedp.ID("yaml-preview")), chromedp.WaitVisible(chromedp.ID("yaml-apply")))
	if !eval[bool](u, `[...document.querySelectorAll("#preview .d-add")].some(e => e.textContent.includes("weight: 3"))`) {
		u.t.Fatal("the preview does not show the new weight")
	}
	u.shot("yaml-preview-1280")
	if w := u.e.pool("web").Spec.Members[0].Weight; w != 1 {
		u.t.Fatalf("the preview wrote: weight %d", w)
	}
	u.run("apply", chromedp.Click(chromedp.ID("yaml-apply")), chromedp.WaitVisible(chromedp.ID("written")))
	if w := u.e.pool("web").Spec.Members[0].Weight; w != 3 {
		u.t.Fatalf("after apply the weight is %d", w)
	}
}

// phoneShots checks that the main pages fit a phone's width.
func (u *uiTest) phoneShots() {
	u.run("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	for _, p := range []string{"/pools", "/pools/web", "/new/pool", "/history"} {
		u.open(p)
		u.run("open "+p, chromedp.WaitVisible(chromedp.ID("main")))
		// Nothing but the scrollable table regions may be wider than the screen.
		if w := eval[int](u, "document.documentElement.scrollWidth"); w > 390 {
			wide := eval[string](u, `[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > 391 && !e.closest(".scroll")).map(e => e.tagName + "#" + e.id + "." + e.className).slice(0, 8).join(", ")`)
			u.t.Errorf("%s is %d px wide at a 390 px viewport: %s", p, w, wide)
		}
		name := strings.ReplaceAll(strings.Trim(p, "/"), "/", "-")
		u.shot(name + "-390")
	}
	u.run("desktop", chromedp.EmulateReset())
}

func (u *uiTest) signOut() {
	u.open("/pools")
	u.run("sign out", chromedp.WaitVisible(chromedp.ID("logout")), chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("token")))
	if loc := eval[string](u, "location.pathname + location.search"); loc != "/login?bye=1" {
		u.t.Fatalf("after signing out the browser is at %s", loc)
	}
	u.open("/pools/web")
	u.run("the session is gone", chromedp.WaitVisible(chromedp.ID("token")))
}

// assertAttributed checks that every revision from first on was made by
// the actor, and that the actions were seen.
func assertAttributed(t *testing.T, e *env, first int64, actor string, want []store.Action) {
	t.Helper()
	page, err := e.st.History(context.Background(), store.HistoryQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[store.Action]bool{}
	for _, rev := range page.Revisions {
		if rev.Number < first {
			continue
		}
		if rev.Actor != actor {
			t.Errorf("revision %d (%s) is attributed to %q, want %q", rev.Number, rev.Action, rev.Actor, actor)
		}
		seen[rev.Action] = true
	}
	for _, a := range want {
		if !seen[a] {
			t.Errorf("no %s revision in the operation log", a)
		}
	}
}
