package e2e

import "github.com/chromedp/chromedp"

func chromedpValue(p *page, css string) (string, error) {
	return chromedp.Run(p.ctx, chromedp.Value(chromedp.CSS(css)))
}
