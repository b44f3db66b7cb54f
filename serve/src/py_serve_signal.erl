%% @doc The `erl_signal_server' handler of `py-buffer-serve': it replaces OTP's default one
%% (which calls `init:stop/0' on SIGTERM) and tells the server process instead, so a
%% shutdown drains first. The server process receives `{py_serve_signal, sigterm}'.
-module(py_serve_signal).
-behaviour(gen_event).

-export([install/1]).
-export([init/1, handle_event/2, handle_call/2, handle_info/2]).

%% @doc Handles SIGTERM from now on: `{py_serve_signal, sigterm}' goes to `Pid'.
-spec install(pid()) -> ok.
install(Pid) ->
    ok = gen_event:swap_handler(erl_signal_server, {erl_signal_handler, []}, {?MODULE, Pid}),
    ok = os:set_signal(sigterm, handle).

%% @private
-spec init(term()) -> {ok, pid()}.
init({Pid, _SwapReply}) ->
    {ok, Pid};
init(Pid) when is_pid(Pid) ->
    {ok, Pid}.

%% @private
-spec handle_event(term(), pid()) -> {ok, pid()}.
handle_event(sigterm, Pid) ->
    Pid ! {py_serve_signal, sigterm},
    {ok, Pid};
handle_event(_Signal, Pid) ->
    {ok, Pid}.

%% @private
-spec handle_call(term(), pid()) -> {ok, ok, pid()}.
handle_call(_Request, Pid) ->
    {ok, ok, Pid}.

%% @private
-spec handle_info(term(), pid()) -> {ok, pid()}.
handle_info(_Info, Pid) ->
    {ok, Pid}.
