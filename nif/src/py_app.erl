%% @doc The lifecycle of an app served with {@link py_request}: load it (and, for ASGI, run its
%% lifespan startup) before the first request, and run its lifespan shutdown at the end.
%%
%% ```
%% ok = py_app:start({asgi, <<"myapp:app">>}),    % lifespan.startup, once
%% ... requests with py_request:start({asgi, <<"myapp:app">>}, Head, Opts) ...
%% ok = py_app:stop({asgi, <<"myapp:app">>}, 5000). % running calls (5 s at most), then
%%                                                 % lifespan.shutdown; the loop thread ends
%% '''
%%
%% Optional: the first request of an app imports it and (ASGI) starts its loop thread and
%% lifespan. An ASGI app's lifespan runs once per app name until {@link stop/1}; a request
%% after `stop/1' starts it again. Starting an app whose lifespan reports
%% `lifespan.startup.failed' returns `{error, {python_error, <<"py_buffer.lifespan.LifespanFailed">>, _, _}}'
%% (do not serve it). The calls wait for Python in the calling process's `receive' (the work
%% runs on a `py' pool thread), never on a scheduler.
-module(py_app).

-export([start/1, stop/1, stop/2]).

%% @doc Imports the app; for ASGI also starts its event-loop thread and runs its lifespan
%% startup (returning when the app completed it).
-spec start(py_request:app()) -> ok | {error, term()}.
start({wsgi, Name}) ->
    case py:call(<<"py_buffer.serve">>, load, [name(Name)]) of
        {ok, _App} -> ok;
        {error, _} = Error -> Error
    end;
start({asgi, Name}) ->
    result(py:call(<<"py_buffer.serve">>, asgi_startup, [name(Name)])).

%% @doc ASGI: runs the app's lifespan shutdown and stops its loop thread (nothing if it was
%% not started). WSGI: nothing to do. The same as `stop(App, 0)'.
-spec stop(py_request:app()) -> ok | {error, term()}.
stop(App) ->
    stop(App, 0).

%% @doc ASGI: first waits up to `DrainMs' milliseconds for the app's calls still running
%% (what an app does after its response, e.g. Starlette's background tasks, which the
%% shutdown would otherwise cancel under them), then as {@link stop/1}. WSGI: nothing to do
%% (a WSGI request ends when its app call returns).
-spec stop(py_request:app(), non_neg_integer()) -> ok | {error, term()}.
stop({wsgi, _Name}, _DrainMs) ->
    ok;
stop({asgi, Name}, DrainMs) when is_integer(DrainMs), DrainMs >= 0 ->
    result(py:call(<<"py_buffer.serve">>, asgi_shutdown, [name(Name), DrainMs / 1000])).

result({ok, _}) -> ok;
result({error, _} = Error) -> Error.

name(Name) when is_binary(Name) -> Name;
name(Name) when is_list(Name) -> unicode:characters_to_binary(Name).
