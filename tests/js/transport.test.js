// Reading a list's pages (app/static/transport.js): the next page's address in a Link header.
import assert from "node:assert/strict";
import { test } from "node:test";

import { nextLink } from "../../app/static/transport.js";

test("the next page is the link whose rel is next", () => {
  const url = "http://h/v1/cases?limit=2&cursor=WyJiIl0";
  assert.equal(nextLink(`<${url}>; rel="next"`), url);
  assert.equal(nextLink(`</first>; rel="first", <${url}>; rel=next`), url);
  assert.equal(nextLink(`<${url}>; title="x"; rel="next"`), url);
});

test("no header, or no next link, is the end of the list", () => {
  assert.equal(nextLink(null), null);
  assert.equal(nextLink(""), null);
  assert.equal(nextLink('</prev>; rel="prev"'), null);
  assert.equal(nextLink('</x>; rel="nextish"'), null);
});
