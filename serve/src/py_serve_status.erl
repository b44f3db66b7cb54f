%% @doc Status lines: the code and its reason phrase. An app's own phrase (a WSGI status line's
%% text, PEP 3333) goes out as given; otherwise the phrase is the one the HTTP status code
%% registry gives the code (RFC 9110 §15 and the codes registered since; the same table as
%% Python 3.13's `http.HTTPStatus', whose phrases uvicorn sends), and a code the registry
%% does not name gets an empty phrase (RFC 9112 §4: the phrase may be empty; uvicorn does the
%% same). `httpd_util:reason_phrase/1', used before, answered "Internal Server Error" for 418,
%% 429, 451, 103 and every unknown code.
%% ```
%% <<"429 Too Many Requests">> = iolist_to_binary(py_serve_status:line(429)),
%% <<"404 NOT FOUND">> = iolist_to_binary(py_serve_status:line({404, <<"NOT FOUND">>})),
%% <<"299 ">> = iolist_to_binary(py_serve_status:line(299)),
%% 299 = py_serve_status:code({299, <<"Custom">>}).
%% '''
-module(py_serve_status).

-export([line/1, code/1, phrase/1]).

%% @doc The code and phrase of a status line (without the version and the line end).
-spec line(py_request:status()) -> iodata().
line({Code, Phrase}) -> [integer_to_binary(Code), $\s, Phrase];
line(Code) -> [integer_to_binary(Code), $\s, phrase(Code)].

%% @doc The code of a status.
-spec code(py_request:status()) -> 100..999.
code({Code, _Phrase}) -> Code;
code(Code) -> Code.

%% @doc The registry's phrase for `Code', `<<>>' when it names none.
-spec phrase(100..999) -> binary().
phrase(100) -> <<"Continue">>;
phrase(101) -> <<"Switching Protocols">>;
phrase(102) -> <<"Processing">>;
phrase(103) -> <<"Early Hints">>;
phrase(200) -> <<"OK">>;
phrase(201) -> <<"Created">>;
phrase(202) -> <<"Accepted">>;
phrase(203) -> <<"Non-Authoritative Information">>;
phrase(204) -> <<"No Content">>;
phrase(205) -> <<"Reset Content">>;
phrase(206) -> <<"Partial Content">>;
phrase(207) -> <<"Multi-Status">>;
phrase(208) -> <<"Already Reported">>;
phrase(226) -> <<"IM Used">>;
phrase(300) -> <<"Multiple Choices">>;
phrase(301) -> <<"Moved Permanently">>;
phrase(302) -> <<"Found">>;
phrase(303) -> <<"See Other">>;
phrase(304) -> <<"Not Modified">>;
phrase(305) -> <<"Use Proxy">>;
phrase(307) -> <<"Temporary Redirect">>;
phrase(308) -> <<"Permanent Redirect">>;
phrase(400) -> <<"Bad Request">>;
phrase(401) -> <<"Unauthorized">>;
phrase(402) -> <<"Payment Required">>;
phrase(403) -> <<"Forbidden">>;
phrase(404) -> <<"Not Found">>;
phrase(405) -> <<"Method Not Allowed">>;
phrase(406) -> <<"Not Acceptable">>;
phrase(407) -> <<"Proxy Authentication Required">>;
phrase(408) -> <<"Request Timeout">>;
phrase(409) -> <<"Conflict">>;
phrase(410) -> <<"Gone">>;
phrase(411) -> <<"Length Required">>;
phrase(412) -> <<"Precondition Failed">>;
phrase(413) -> <<"Content Too Large">>;
phrase(414) -> <<"URI Too Long">>;
phrase(415) -> <<"Unsupported Media Type">>;
phrase(416) -> <<"Range Not Satisfiable">>;
phrase(417) -> <<"Expectation Failed">>;
phrase(418) -> <<"I'm a Teapot">>;
phrase(421) -> <<"Misdirected Request">>;
phrase(422) -> <<"Unprocessable Content">>;
phrase(423) -> <<"Locked">>;
phrase(424) -> <<"Failed Dependency">>;
phrase(425) -> <<"Too Early">>;
phrase(426) -> <<"Upgrade Required">>;
phrase(428) -> <<"Precondition Required">>;
phrase(429) -> <<"Too Many Requests">>;
phrase(431) -> <<"Request Header Fields Too Large">>;
phrase(451) -> <<"Unavailable For Legal Reasons">>;
phrase(500) -> <<"Internal Server Error">>;
phrase(501) -> <<"Not Implemented">>;
phrase(502) -> <<"Bad Gateway">>;
phrase(503) -> <<"Service Unavailable">>;
phrase(504) -> <<"Gateway Timeout">>;
phrase(505) -> <<"HTTP Version Not Supported">>;
phrase(506) -> <<"Variant Also Negotiates">>;
phrase(507) -> <<"Insufficient Storage">>;
phrase(508) -> <<"Loop Detected">>;
phrase(510) -> <<"Not Extended">>;
phrase(511) -> <<"Network Authentication Required">>;
phrase(_Code) -> <<>>.
