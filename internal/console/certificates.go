package console

import (
	"net/http"
	"strconv"

	"github.com/keyplane/keyplane/api"
)

// certificatesPerPage is how many certificates the expiry page lists at
// once; the timeline shows the same page.
const certificatesPerPage = 100

type certificateRow struct {
	api.CertificateExpiry
	Status   expiration
	AliasURL string
	Env      string
}

// timeline is the server-rendered chart of the expiry view: one dot per
// certificate at its days left, stacked when several share a day, with
// today and the 14- and 30-day marks drawn.
type timeline struct {
	Width, Height int
	Dots          []timelineDot
	Marks         []timelineMark
	Axis          int
}

type timelineDot struct {
	X, Y  int
	Class string
	Label string
}

type timelineMark struct {
	X     int
	Label string
	Class string
	// Anchor aligns the label: the last one ends at its mark, so that it
	// stays inside the chart.
	Anchor string
}

// Timeline scale: days left from timelineMin to timelineMax; certificates
// beyond either end sit on it.
const (
	timelineMin    = -14
	timelineMax    = 120
	timelineWidth  = 960
	timelineLeft   = 30
	timelineRight  = 20
	timelineBottom = 30
	timelineTop    = 16
	dotStep        = 10
)

func timelineX(days int) int {
	days = min(max(days, timelineMin), timelineMax)
	span := timelineWidth - timelineLeft - timelineRight
	return timelineLeft + (days-timelineMin)*span/(timelineMax-timelineMin)
}

func buildTimeline(rows []certificateRow) timeline {
	stack := map[int]int{}
	tl := timeline{Width: timelineWidth}
	highest := 1
	for _, r := range rows {
		x := timelineX(r.Status.DaysLeft)
		stack[x]++
		highest = max(highest, stack[x])
		tl.Dots = append(tl.Dots, timelineDot{X: x, Y: stack[x], Class: r.Status.Class,
			Label: r.Name + ": " + r.Status.Words})
	}
	tl.Height = timelineTop + highest*dotStep + timelineBottom
	tl.Axis = tl.Height - timelineBottom
	for i := range tl.Dots {
		tl.Dots[i].Y = tl.Axis - tl.Dots[i].Y*dotStep + dotStep/2
	}
	tl.Marks = []timelineMark{
		{X: timelineX(0), Label: "today", Class: "today"},
		{X: timelineX(14), Label: "14 days", Class: "urgent"},
		{X: timelineX(30), Label: "30 days", Class: "soon"},
		{X: timelineX(60), Label: "60 days", Class: "plain"},
		{X: timelineX(90), Label: "90 days", Class: "plain"},
		{X: timelineX(timelineMax), Label: strconv.Itoa(timelineMax) + "+ days", Class: "plain", Anchor: "end"},
	}
	for i := range tl.Marks {
		if tl.Marks[i].Anchor == "" {
			tl.Marks[i].Anchor = "middle"
		}
	}
	return tl
}

type certificatesData struct {
	Rows     []certificateRow
	Timeline timeline
	Next     string
	Within   string
}

// certificates is the organization's expiry view, soonest first: a table
// and a timeline.
func (c *Console) certificates(w http.ResponseWriter, r *http.Request) {
	p := c.newPage(w, r, "Certificates expiring", "certificates")
	within := r.URL.Query().Get("within")
	list, err := p.Session.client.ListCertificates(r.Context(), p.Org, within, certificatesPerPage, r.URL.Query().Get("pageToken"))
	if err != nil {
		c.fail(w, r, p, err)
		return
	}
	d := certificatesData{Next: list.NextPageToken, Within: within}
	now := c.cfg.Now()
	for _, ce := range list.Certificates {
		env := lastSegment(ce.Environment)
		d.Rows = append(d.Rows, certificateRow{
			CertificateExpiry: ce, Env: env,
			Status:   expirationOf(now, ce.ExpiryDate),
			AliasURL: envURL(p.Org, env, "keystores", ce.Keystore, "aliases", ce.Alias),
		})
	}
	d.Timeline = buildTimeline(d.Rows)
	p.Data = d
	c.render(w, r, http.StatusOK, "certificates", p)
}
