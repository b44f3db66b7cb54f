%% @doc The application `py_buffer': `application:ensure_all_started(py_buffer)' starts the
%% top supervisor {@link py_buffer_sup} (the owner watcher) and loads the NIF library, which
%% starts the embedded interpreter and its threads with the application environment (see
%% `py_buffer.app.src' and module `py'). Starting the application is optional: without it
%% the NIF loads with the first call and the watcher starts on demand.
%%
%% Stopping the application (`application:stop(py_buffer)', or an orderly `init:stop()',
%% which stops every application) finalizes the interpreter with `py:stop/0' unless the
%% environment key `finalize_on_stop' is `false': atexit handlers run and buffered files are
%% flushed, and later `py' calls return `{error, stopped}' (CPython cannot be started again
%% in the same VM). Without the application, call `py:stop/0' before `init:stop/0';
%% `erlang:halt/0,1' skips finalization either way.
-module(py_buffer_app).
-behaviour(application).

-export([start/2, stop/1]).

%% @private
-spec start(application:start_type(), term()) -> {ok, pid()} | {error, term()}.
start(_Type, _Args) ->
    case py_buffer_sup:start_link() of
        {ok, Sup} ->
            %% Loaded now (if not yet), so the interpreter starts with the application and
            %% with its environment, not with the first call.
            case code:ensure_loaded(py_buffer) of
                {module, py_buffer} ->
                    {ok, Sup};
                {error, Reason} ->
                    unlink(Sup),
                    exit(Sup, shutdown),
                    {error, {nif_load, Reason}}
            end;
        Error ->
            Error
    end.

%% @private
-spec stop(term()) -> ok.
stop(_State) ->
    case application:get_env(py_buffer, finalize_on_stop, true) of
        false ->
            ok;
        _ ->
            %% ok, {error, {busy, N}} (only atexit ran) or {error, not_started}: the
            %% application stops either way.
            _ = py:stop(),
            ok
    end.
