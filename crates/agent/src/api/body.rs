//! JSON request bodies whose refusals are API errors like every other (JSON with a code),
//! not axum's plain-text rejections. A body that does not fit its type — a name with a `/`
//! or `..` in it included — is refused before the handler runs: 400 `bad_request`.

use super::error::{code, ApiError};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, OptionalFromRequest, Request};
use axum::http::StatusCode;
use axum::Json;

pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(refused(rejection)),
        }
    }
}

/// An optional body: none without a Content-Type, refused when one is sent and is wrong.
impl<S, T> OptionalFromRequest<S> for JsonBody<T>
where
    Json<T>: OptionalFromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Option<Self>, ApiError> {
        match <Json<T> as OptionalFromRequest<S>>::from_request(request, state).await {
            Ok(value) => Ok(value.map(|Json(value)| JsonBody(value))),
            Err(rejection) => Err(refused(rejection)),
        }
    }
}

fn refused(rejection: JsonRejection) -> ApiError {
    let status = match rejection {
        // What the body says is wrong, not how it was sent.
        JsonRejection::JsonDataError(_) => StatusCode::BAD_REQUEST,
        _ => rejection.status(),
    };
    ApiError::new(status, code::BAD_REQUEST, rejection.body_text())
}
