package http1

// The request corpus shared by the table tests, the net/http cross-check,
// the round-trip test and the fuzz seeds. want is 0 for accepted requests,
// else the status of the expected *Error.

type reqCase struct {
	name string
	in   string
	want int
}

const browserRequest = "GET /search/results?q=fulcrum+load+balancer&page=2&lang=en HTTP/1.1\r\n" +
	"Host: www.example.com\r\n" +
	"Connection: keep-alive\r\n" +
	"sec-ch-ua: \"Chromium\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n" +
	"sec-ch-ua-mobile: ?0\r\n" +
	"Upgrade-Insecure-Requests: 1\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n" +
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n" +
	"Sec-Fetch-Site: same-origin\r\n" +
	"Sec-Fetch-Mode: navigate\r\n" +
	"Sec-Fetch-Dest: document\r\n" +
	"Referer: https://www.example.com/\r\n" +
	"Accept-Encoding: gzip, deflate, br\r\n" +
	"Accept-Language: en-US,en;q=0.9\r\n" +
	"Cookie: session=3f2a9c1b7d; theme=dark\r\n" +
	"\r\n"

const minimalRequest = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"

const typicalResponse = "HTTP/1.1 200 OK\r\n" +
	"Server: nginx/1.22.1\r\n" +
	"Date: Mon, 06 May 2024 10:00:00 GMT\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"Content-Length: 12345\r\n" +
	"Connection: keep-alive\r\n" +
	"Cache-Control: private, max-age=0\r\n" +
	"Vary: Accept-Encoding\r\n" +
	"X-Request-Id: 7f1c2a9e-33b1-4a8e-9d21-5e0c3f7a8b64\r\n" +
	"\r\n"

func req11(headers string) string { return "POST / HTTP/1.1\r\nHost: a\r\n" + headers + "\r\n" }

var requestCorpus = []reqCase{
	// Accepted.
	{"minimal", minimalRequest, 0},
	{"browser", browserRequest, 0},
	{"post cl", req11("Content-Length: 5\r\n"), 0},
	{"cl zero", req11("Content-Length: 0\r\n"), 0},
	{"cl leading zeros", req11("Content-Length: 007\r\n"), 0},
	{"cl ows", req11("Content-Length: \t 5 \t\r\n"), 0},
	{"cl max", req11("Content-Length: 9223372036854775807\r\n"), 0},
	{"te chunked", req11("Transfer-Encoding: chunked\r\n"), 0},
	{"te chunked caps", req11("Transfer-Encoding: cHuNkEd\r\n"), 0},
	{"te chunked ows", req11("Transfer-Encoding:   chunked  \r\n"), 0},
	{"te chunked htab", req11("Transfer-Encoding:\tchunked\t\r\n"), 0},
	{"te name caps", req11("TRANSFER-ENCODING: chunked\r\n"), 0},
	{"http10 no host", "GET /x HTTP/1.0\r\n\r\n", 0},
	{"http10 keepalive", "GET /x HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: a\r\n\r\n", 0},
	{"absolute form", "GET http://Upstream.Example:8080/p/q?x=1 HTTP/1.1\r\nHost: other\r\n\r\n", 0},
	{"absolute https no path", "GET https://a.example HTTP/1.1\r\nHost: a.example\r\n\r\n", 0},
	{"absolute query no path", "GET http://a?x HTTP/1.1\r\nHost: a\r\n\r\n", 0},
	{"connect", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 0},
	{"connect ipv6", "CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n", 0},
	{"options star", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 0},
	{"leading crlf", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0},
	{"empty host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", 0},
	{"ipv6 host", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 0},
	{"host empty port", "GET / HTTP/1.1\r\nHost: a:\r\n\r\n", 0},
	{"query empty", "GET /a? HTTP/1.1\r\nHost: a\r\n\r\n", 0},
	{"pct path", "GET /a%20b/%C3%A9 HTTP/1.1\r\nHost: a\r\n\r\n", 0},
	{"odd path chars", "GET /a|b{c}^~!$&'()*+,;=:@ HTTP/1.1\r\nHost: a\r\n\r\n", 0},
	{"raw pct in query", "GET /a?q=100% HTTP/1.1\r\nHost: a\r\n\r\n", 0},
	{"extension method", "PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n", 0},
	{"lowercase method", "get / HTTP/1.1\r\nHost: a\r\n\r\n", 0},
	{"obs-text value", "GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xc3\xa9\r\n\r\n", 0},
	{"empty value", "GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\n\r\n", 0},
	{"value inner ws", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b \t c\r\n\r\n", 0},
	{"expect 100", req11("Content-Length: 3\r\nExpect: 100-Continue\r\n"), 0},
	{"expect 100 no body", "GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", 0},
	{"expect 100 http10", "POST / HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n", 0},
	{"expect empty", "GET / HTTP/1.1\r\nHost: a\r\nExpect:\r\n\r\n", 0},
	{"websocket", "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", 0},
	{"upgrade not listed", "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", 0},
	{"connection listed", "GET / HTTP/1.1\r\nHost: a\r\nX-Hop: 1\r\nConnection: close, X-Hop,,\r\nX-End: 2\r\n\r\n", 0},
	{"connection lists host", "GET / HTTP/1.1\r\nHost: a\r\nConnection: host, content-length\r\n\r\n", 0},
	{"xff", "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.0.0.1\r\nx-forwarded-for: 10.0.0.2, 10.0.0.3\r\n\r\n", 0},
	{"underscore name", "GET / HTTP/1.1\r\nHost: a\r\nX_Custom: 1\r\n\r\n", 0},

	// Request line.
	{"double space", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"space before version", "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"trailing space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400},
	{"leading space", " GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"tab separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"http09", "GET /\r\n\r\n", 400},
	{"no target", "GET HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"version 2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
	{"h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
	{"version 0.9", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505},
	{"version 1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505},
	{"version lowercase", "GET / http/1.1\r\nHost: a\r\n\r\n", 400},
	{"version 1.10", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400},
	{"version 11", "GET / HTTP/11\r\nHost: a\r\n\r\n", 400},
	{"version garbage", "GET / FOO\r\nHost: a\r\n\r\n", 400},
	{"method at", "G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"method nul", "GE\x00T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"method utf8", "G\xc3\x89T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"method paren", "GET() / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"target tab", "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"target nul", "GET /a\x00 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"target del", "GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"target high byte", "GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"target fragment", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"target bad pct", "GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"target short pct", "GET /a%4 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"target relative", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"star not options", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"connect origin", "CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"connect no port", "CONNECT example.com HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"connect userinfo", "CONNECT u@example.com:443 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"absolute ftp", "GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"absolute userinfo", "GET http://user:pw@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"absolute empty host", "GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"absolute bad port", "GET http://a:99999/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"absolute bad ipv6", "GET http://[::1::2]/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"absolute ipv4 literal", "GET http://[1.2.3.4]/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"request line bare lf", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400},
	{"request line bare cr", "GET / HTTP/1.1\r\rHost: a\r\n\r\n", 400},
	{"request line cr cr lf", "GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", 400},
	{"leading bare lf", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},

	// Field lines.
	{"header bare lf", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400},
	{"final bare lf", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400},
	{"all bare lf", "GET / HTTP/1.1\nHost: a\n\n", 400},
	{"value bare cr", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400},
	{"final bare cr", "GET / HTTP/1.1\r\nHost: a\r\n\rX\r\n", 400},
	{"value nul", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400},
	{"value del", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", 400},
	{"value vt", "GET / HTTP/1.1\r\nHost: a\r\nX: \x0bb\r\n\r\n", 400},
	{"name nul", "GET / HTTP/1.1\r\nHost: a\r\nX\x00Y: b\r\n\r\n", 400},
	{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
	{"tab before colon", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length\t: 5\r\n\r\n", 400},
	{"space in name", "GET / HTTP/1.1\r\nHost: a\r\nX Y: b\r\n\r\n", 400},
	{"obs fold", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400},
	{"obs fold tab", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", 400},
	{"leading ws first field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400},
	{"no colon", "GET / HTTP/1.1\r\nHost a\r\n\r\n", 400},
	{"empty name", "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400},
	{"name paren", "GET / HTTP/1.1\r\nHost: a\r\nX(Y): b\r\n\r\n", 400},
	{"name utf8", "GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: b\r\n\r\n", 400},
	{"cl underscore", "POST / HTTP/1.1\r\nHost: a\r\nContent_Length: 5\r\n\r\n", 400},
	{"te underscore", "POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n", 400},

	// Content-Length.
	{"cl and te", req11("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), 400},
	{"te and cl", req11("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), 400},
	{"cl dup identical", req11("Content-Length: 5\r\nContent-Length: 5\r\n"), 400},
	{"cl dup different", req11("Content-Length: 5\r\nContent-Length: 6\r\n"), 400},
	{"cl list", req11("Content-Length: 5, 5\r\n"), 400},
	{"cl plus", req11("Content-Length: +5\r\n"), 400},
	{"cl minus", req11("Content-Length: -1\r\n"), 400},
	{"cl inner space", req11("Content-Length: 5 5\r\n"), 400},
	{"cl hex", req11("Content-Length: 0x5\r\n"), 400},
	{"cl empty", req11("Content-Length:\r\n"), 400},
	{"cl overflow", req11("Content-Length: 9223372036854775808\r\n"), 400},
	{"cl huge", req11("Content-Length: 99999999999999999999999\r\n"), 400},
	{"cl decimal", req11("Content-Length: 1.0\r\n"), 400},
	{"cl vt", req11("Content-Length: \x0b5\r\n"), 400},

	// Transfer-Encoding.
	{"te identity", req11("Transfer-Encoding: identity\r\n"), 400},
	{"te chunked identity", req11("Transfer-Encoding: chunked, identity\r\n"), 400},
	{"te gzip chunked", req11("Transfer-Encoding: gzip, chunked\r\n"), 501},
	{"te gzip", req11("Transfer-Encoding: gzip\r\n"), 400},
	{"te chunked param", req11("Transfer-Encoding: chunked;x=1\r\n"), 501},
	{"te chunked bad param", req11("Transfer-Encoding: chunked;x\r\n"), 400},
	{"te chunked semicolon", req11("Transfer-Encoding: chunked;\r\n"), 400},
	{"te xchunked", req11("Transfer-Encoding: xchunked\r\n"), 400},
	{"te chunkedx", req11("Transfer-Encoding: chunkedx\r\n"), 400},
	{"te chunked twice", req11("Transfer-Encoding: chunked, chunked\r\n"), 400},
	{"te two fields", req11("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), 400},
	{"te split fields", req11("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"), 501},
	{"te leading comma", req11("Transfer-Encoding: ,chunked\r\n"), 400},
	{"te trailing comma", req11("Transfer-Encoding: chunked,\r\n"), 400},
	{"te empty", req11("Transfer-Encoding:\r\n"), 400},
	{"te vt before", req11("Transfer-Encoding:\x0bchunked\r\n"), 400},
	{"te vt after", req11("Transfer-Encoding: chunked\x0b\r\n"), 400},
	{"te ff", req11("Transfer-Encoding: \x0cchunked\r\n"), 400},
	{"te inner space", req11("Transfer-Encoding: chunk ed\r\n"), 400},
	{"te quoted", req11("Transfer-Encoding: \"chunked\"\r\n"), 400},
	{"te http10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
	{"te http10 with cl", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400},

	// Host.
	{"host missing", "GET / HTTP/1.1\r\n\r\n", 400},
	{"host missing absolute", "GET http://a/ HTTP/1.1\r\n\r\n", 400},
	{"host twice", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400},
	{"host twice http10", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400},
	{"host space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
	{"host userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400},
	{"host bad port", "GET / HTTP/1.1\r\nHost: a:b\r\n\r\n", 400},
	{"host open bracket", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400},
	{"host slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
	{"host list", "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", 400},

	// Connection, Upgrade, Expect.
	{"connection bad token", "GET / HTTP/1.1\r\nHost: a\r\nConnection: a b\r\n\r\n", 400},
	{"upgrade twice", "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: a\r\nUpgrade: b\r\n\r\n", 400},
	{"upgrade empty", "GET / HTTP/1.1\r\nHost: a\r\nUpgrade:\r\nConnection: upgrade\r\n\r\n", 400},
	{"expect unknown", "GET / HTTP/1.1\r\nHost: a\r\nExpect: foo\r\n\r\n", 417},
	{"expect 100 params", req11("Content-Length: 1\r\nExpect: 100-continue; x=1\r\n"), 417},
	{"expect 100 and other", req11("Content-Length: 1\r\nExpect: 100-continue\r\nExpect: 200-ok\r\n"), 417},
}
