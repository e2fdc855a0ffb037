/* check/constants.c - values known when compiling: tensor literals, the
 * builtin kernels (sobel, laplacian, box, gaussian, savgol) and load() of
 * an array file. */
#include "check.h"

static Node *const_node(Checker *c, const char *stage, SrcLoc loc, Shape shape,
                        float *data, int64_t count)
{
    Node *n = chk_new_node(c, NODE_CONST, stage, loc);
    n->shape = shape;
    n->cst.data = data;
    n->cst.count = count;
    n->macs = sym_const(&c->sc, 0);
    chk_push_node(c, n);
    return n;
}

static Node *const_2d(Checker *c, const char *stage, SrcLoc loc, int64_t h,
                      int64_t w, const float *values)
{
    Shape s = shape_make(c->a, 2);
    s.dims[0] = sym_const(&c->sc, h);
    s.dims[1] = sym_const(&c->sc, w);
    float *data = arena_array(c->a, (size_t)(h * w), sizeof(float));
    memcpy(data, values, (size_t)(h * w) * sizeof(float));
    return const_node(c, stage, loc, s, data, h * w);
}

static Node *const_1d(Checker *c, const char *stage, SrcLoc loc, int64_t n,
                      const double *values)
{
    Shape s = shape_make(c->a, 1);
    s.dims[0] = sym_const(&c->sc, n);
    float *data = arena_array(c->a, (size_t)n, sizeof(float));
    for (int64_t i = 0; i < n; i++)
        data[i] = (float)values[i];
    return const_node(c, stage, loc, s, data, n);
}

Node *chk_builtin_kernel(Checker *c, const char *name, SrcLoc loc)
{
    static const float sobel_x[] = { -1, 0, 1, -2, 0, 2, -1, 0, 1 };
    static const float sobel_y[] = { -1, -2, -1, 0, 0, 0, 1, 2, 1 };
    static const float laplacian[] = { 0, 1, 0, 1, -4, 1, 0, 1, 0 };
    if (strcmp(name, "sobel_x") == 0) return const_2d(c, name, loc, 3, 3, sobel_x);
    if (strcmp(name, "sobel_y") == 0) return const_2d(c, name, loc, 3, 3, sobel_y);
    if (strcmp(name, "laplacian") == 0) return const_2d(c, name, loc, 3, 3, laplacian);
    return NULL;
}

/* scipy.signal.savgol_coeffs(window, order, deriv, use="conv"): the
 * minimum-norm least-squares solution of A c = y with A[i][j] = x_j^i over
 * the window positions x (reversed for convolution), y = deriv! e_deriv.
 * A has full row rank (order < window), so c = A^T (A A^T)^-1 y. */
static bool savgol_coeffs(int64_t window, int64_t order, int64_t deriv, double *out)
{
    int64_t m = order + 1;
    double pos = (window % 2) ? (double)(window / 2) : (double)(window / 2) - 0.5;
    double *x = malloc((size_t)window * sizeof *x);
    double *G = calloc((size_t)(m * m), sizeof *G);
    double *z = calloc((size_t)m, sizeof *z);
    if (!x || !G || !z) {
        free(x); free(G); free(z);
        return false;
    }
    for (int64_t j = 0; j < window; j++)
        x[window - 1 - j] = (double)j - pos;     /* reversed: use="conv" */
    for (int64_t r = 0; r < m; r++)
        for (int64_t s = 0; s < m; s++) {
            double acc = 0;
            for (int64_t j = 0; j < window; j++)
                acc += pow(x[j], (double)r) * pow(x[j], (double)s);
            G[r * m + s] = acc;
        }
    double fact = 1;
    for (int64_t i = 2; i <= deriv; i++)
        fact *= (double)i;
    if (deriv <= order)
        z[deriv] = fact;
    /* Gaussian elimination with partial pivoting on G z = y. */
    bool ok = true;
    for (int64_t col = 0; col < m && ok; col++) {
        int64_t piv = col;
        for (int64_t r = col + 1; r < m; r++)
            if (fabs(G[r * m + col]) > fabs(G[piv * m + col]))
                piv = r;
        if (fabs(G[piv * m + col]) < 1e-300) {
            ok = false;
            break;
        }
        if (piv != col) {
            for (int64_t s = 0; s < m; s++) {
                double t = G[col * m + s];
                G[col * m + s] = G[piv * m + s];
                G[piv * m + s] = t;
            }
            double t = z[col]; z[col] = z[piv]; z[piv] = t;
        }
        for (int64_t r = col + 1; r < m; r++) {
            double f = G[r * m + col] / G[col * m + col];
            for (int64_t s = col; s < m; s++)
                G[r * m + s] -= f * G[col * m + s];
            z[r] -= f * z[col];
        }
    }
    for (int64_t r = m - 1; r >= 0 && ok; r--) {
        double acc = z[r];
        for (int64_t s = r + 1; s < m; s++)
            acc -= G[r * m + s] * z[s];
        z[r] = acc / G[r * m + r];
    }
    for (int64_t j = 0; j < window && ok; j++) {
        double acc = 0;
        for (int64_t r = 0; r < m; r++)
            acc += pow(x[j], (double)r) * z[r];
        out[j] = acc;
    }
    free(x); free(G); free(z);
    return ok;
}

Value check_kernel_builtin(Checker *c, const AstExpr *e, const char *name)
{
    static const char *const box_names[] = { "n" };
    static const char *const gauss_names[] = { "n", "sigma" };
    static const char *const savgol_names[] = { "window", "order", "deriv" };
    CallArgs a;
    bool is_box = strncmp(name, "box", 3) == 0, is_gauss = strncmp(name, "gaussian", 8) == 0;
    bool two_d = strcmp(name, "box2d") == 0 || strcmp(name, "gaussian2d") == 0;
    if (is_box)
        chk_bind_args(c, e, box_names, 1, 1, &a);
    else if (is_gauss)
        chk_bind_args(c, e, gauss_names, 2, 2, &a);
    else
        chk_bind_args(c, e, savgol_names, 3, 3, &a);
    if (a.bad || !chk_need(c, e, &a, 0, is_box || is_gauss ? "a size n" : "a window length"))
        return chk_val_error(e->loc);
    int64_t n;
    if (!chk_int_value(c, chk_eval(c, a.arg[0]), name, is_box || is_gauss ? "n" : "window", 1, &n))
        return chk_val_error(e->loc);
    int64_t max_n = two_d ? 1024 : 65536;     /* 2-D: at most 1M taps */
    if (n > max_n) {
        diag_error(c->d, a.arg[0]->loc, "%s: size %lld is too large for a kernel (at most %lld)",
                   name, (long long)n, (long long)max_n);
        return chk_val_error(e->loc);
    }
    double *v = arena_array(c->a, (size_t)n, sizeof(double));
    if (is_box) {
        for (int64_t i = 0; i < n; i++)
            v[i] = 1.0 / (double)n;
    } else if (is_gauss) {
        double sigma;
        if (!chk_need(c, e, &a, 1, "a sigma") || !chk_scalar_value(c, a.arg[1], name, "sigma", &sigma))
            return chk_val_error(e->loc);
        if (!(sigma > 0)) {
            diag_error(c->d, a.arg[1]->loc, "%s: sigma must be positive, got %g", name, sigma);
            return chk_val_error(e->loc);
        }
        double sum = 0, mid = (double)(n - 1) / 2.0;
        for (int64_t i = 0; i < n; i++) {
            double t = ((double)i - mid) / sigma;
            v[i] = exp(-0.5 * t * t);
            sum += v[i];
        }
        for (int64_t i = 0; i < n; i++)
            v[i] /= sum;
    } else {
        int64_t order, deriv = 0;
        if (!chk_need(c, e, &a, 1, "a polynomial order") ||
            !chk_int_value(c, chk_eval(c, a.arg[1]), name, "order", 0, &order))
            return chk_val_error(e->loc);
        if (a.arg[2] && !chk_int_value(c, chk_eval(c, a.arg[2]), name, "deriv", 0, &deriv))
            return chk_val_error(e->loc);
        if (order >= n) {
            diag_error(c->d, a.arg[1]->loc, "savgol: order %lld must be less than the window length %lld",
                       (long long)order, (long long)n);
            return chk_val_error(e->loc);
        }
        if (!savgol_coeffs(n, order, deriv, v)) {
            diag_error(c->d, e->loc, "savgol: the fit is singular for window %lld, order %lld",
                       (long long)n, (long long)order);
            return chk_val_error(e->loc);
        }
    }
    Node *k;
    if (two_d) {
        Shape s = shape_make(c->a, 2);
        s.dims[0] = s.dims[1] = sym_const(&c->sc, n);
        float *data = arena_array(c->a, (size_t)(n * n), sizeof(float));
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++)
                data[i * n + j] = (float)(v[i] * v[j]);
        k = const_node(c, name, e->loc, s, data, n * n);
    } else {
        k = const_1d(c, name, e->loc, n, v);
    }
    return chk_tensor_val(k, e->loc);
}

/* Capture the runtime's message for load() so it becomes a diagnostic. */
typedef struct LoadMsg {
    char text[512];
} LoadMsg;

static void capture_error(void *user, int code, const char *message)
{
    (void)code;
    LoadMsg *m = user;
    snprintf(m->text, sizeof m->text, "%s", message);
}

Value check_load(Checker *c, const AstExpr *e)
{
    static const char *const names[] = { "path" };
    CallArgs a;
    chk_bind_args(c, e, names, 1, 1, &a);
    if (a.bad || !chk_need(c, e, &a, 0, "a file name"))
        return chk_val_error(e->loc);
    Value p = chk_eval(c, a.arg[0]);
    if (p.kind == VAL_ERROR)
        return p;
    if (p.kind != VAL_STRING) {
        diag_error(c->d, p.loc, "load: the file name must be a string in double quotes");
        return chk_val_error(e->loc);
    }
    if (!p.text[0]) {
        diag_error(c->d, p.loc, "load: the file name is empty");
        return chk_val_error(e->loc);
    }
    const char *path = p.text;
    if (path[0] != '/' && c->opt && c->opt->script_dir && c->opt->script_dir[0])
        path = arena_printf(c->a, "%s/%s", c->opt->script_dir, p.text);
    LoadMsg msg = { "" };
    convrt_set_thread_error_handler(capture_error, &msg);
    convrt_tensor t = { 0 };
    int rc = convrt_npy_load(path, &t);
    convrt_set_thread_error_handler(NULL, NULL);
    if (rc != 0) {
        diag_error(c->d, p.loc, "load: %s", msg.text[0] ? msg.text : convrt_strerror(rc));
        return chk_val_error(e->loc);
    }
    Shape s = shape_make(c->a, t.rank);
    int64_t count = 1;
    for (int32_t i = 0; i < t.rank; i++) {
        s.dims[i] = sym_const(&c->sc, t.dims[i]);
        count *= t.dims[i];
    }
    float *data = arena_array(c->a, (size_t)(count > 0 ? count : 1), sizeof(float));
    if (count > 0)
        memcpy(data, t.data, (size_t)count * sizeof(float));
    int32_t rank = t.rank;
    convrt_tensor_free(&t);
    if (rank == 0 || count == 0) {
        diag_error(c->d, p.loc, "load: '%s' holds no values (a tensor needs at least one dim >= 1)", p.text);
        return chk_val_error(e->loc);
    }
    Node *n = const_node(c, "load", e->loc, s, data, count);
    n->desc = arena_printf(c->a, "load \"%s\"", p.text);
    return chk_tensor_val(n, e->loc);
}

/* ---- tensor literals ------------------------------------------------------- */

/* Flatten a nested list into values, recording the shape of the first
 * element at each depth and requiring every sibling to match. */
typedef struct LitState {
    int64_t dims[CONVRT_MAX_RANK];
    int32_t rank;       /* -1 until the first leaf fixes it */
    float  *buf;
    int64_t len, cap;
    bool    ok;
} LitState;

static void lit_push(Checker *c, LitState *s, float v)
{
    if (s->len == s->cap) {
        int64_t cap = s->cap ? s->cap * 2 : 16;
        float *nb = arena_array(c->a, (size_t)cap, sizeof(float));
        if (s->len)
            memcpy(nb, s->buf, (size_t)s->len * sizeof(float));
        s->buf = nb;
        s->cap = cap;
    }
    s->buf[s->len++] = v;
}

static void lit_walk(Checker *c, LitState *s, const AstExpr *e, int32_t depth)
{
    if (!s->ok)
        return;
    if (e->kind == AST_LIST) {
        if (depth >= CONVRT_MAX_RANK) {
            diag_error(c->d, e->loc, "tensor literal has more than %d dims", CONVRT_MAX_RANK);
            s->ok = false;
            return;
        }
        if (e->list.n == 0) {
            diag_error(c->d, e->loc, "empty tensor literal");
            s->ok = false;
            return;
        }
        if (s->rank < 0 || depth >= s->rank) {
            if (s->rank >= 0 && depth >= s->rank) {
                diag_error(c->d, e->loc, "ragged tensor literal: a list where a number was expected");
                s->ok = false;
                return;
            }
            s->dims[depth] = e->list.n;
        } else if (s->dims[depth] != e->list.n) {
            diag_error(c->d, e->loc, "ragged tensor literal: %d items where the first row has %lld",
                       e->list.n, (long long)s->dims[depth]);
            s->ok = false;
            return;
        }
        for (int32_t i = 0; i < e->list.n && s->ok; i++)
            lit_walk(c, s, e->list.items[i], depth + 1);
        return;
    }
    if (s->rank < 0)
        s->rank = depth;
    else if (depth != s->rank) {
        diag_error(c->d, e->loc, "ragged tensor literal: a number where a list was expected");
        s->ok = false;
        return;
    }
    Value v = chk_eval(c, e);
    if (v.kind == VAL_ERROR) {
        s->ok = false;
        return;
    }
    if (v.kind != VAL_SCALAR) {
        diag_error(c->d, e->loc, "tensor literal items must be numbers, not %s", chk_val_kind_name(v.kind));
        s->ok = false;
        return;
    }
    lit_push(c, s, (float)v.num);
}

Value chk_tensor_literal(Checker *c, const AstExpr *e)
{
    LitState s = { .rank = -1, .ok = true };
    lit_walk(c, &s, e, 0);
    if (!s.ok)
        return chk_val_error(e->loc);
    Shape shape = shape_make(c->a, s.rank);
    for (int32_t i = 0; i < s.rank; i++)
        shape.dims[i] = sym_const(&c->sc, s.dims[i]);
    Node *n = const_node(c, "literal", e->loc, shape, s.buf, s.len);
    return chk_tensor_val(n, e->loc);
}
